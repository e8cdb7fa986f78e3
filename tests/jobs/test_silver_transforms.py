"""Silver's transforms on hand-made bronze rows: the shapes the demo's data never has."""

from __future__ import annotations

from sandbox.jobs.silver import player_events

EVENTS = "event_id string, event_type string, event_time timestamp, event_date date, payload string"


def test_player_events_gives_one_row_per_player_taking_part_whatever_the_payload(spark) -> None:
    events = spark.createDataFrame(
        [
            ("login", "player_login", None, None, '{"player_id": 7}'),
            ("no-type", None, None, None, '{"player_id": 5}'),  # of no kind: not in silver
            ("garbled", "player_login", None, None, "not json"),  # one row, no player
            ("started", "match_started", None, None, '{"match_id": 1, "player_ids": [1, null, 2]}'),
            ("nobody", "match_started", None, None, '{"match_id": 1, "player_ids": []}'),
            ("no-list", "match_started", None, None, '{"match_id": 1}'),
            (
                "finished",
                "match_finished",
                None,
                None,
                '{"match_id": 1, "results": [{"player_id": 1, "won": true}, {"player_id": 2}]}',
            ),
            ("no-results", "match_finished", None, None, '{"results": null}'),
        ],
        EVENTS,
    )
    players = spark.createDataFrame(
        [(1, "BR", "gold"), (7, "AR", "iron")],
        "player_id long, country_code string, skill_tier string",
    )
    matches = spark.createDataFrame(
        [(1, "dust", "ranked")], "match_id long, map_name string, game_mode string"
    )
    rows = player_events(events, players, matches).collect()
    got = sorted(
        ((r.event_id, r.player_id, r.won, r.country_code, r.map_name) for r in rows),
        key=lambda t: (t[0], t[1] is None, t[1] or 0),
    )
    assert got == [
        ("finished", 1, True, "BR", "dust"),
        ("finished", 2, None, None, "dust"),
        ("garbled", None, None, None, None),
        ("login", 7, None, "AR", None),
        # nothing to explode: one row with no player, which not_null(player_id)
        # quarantines (test_silver_contracts), never a silent drop
        ("no-list", None, None, None, "dust"),
        ("no-results", None, None, None, None),
        ("nobody", None, None, None, "dust"),
        ("started", 1, None, "BR", "dust"),
        ("started", 2, None, None, "dust"),
        ("started", None, None, None, "dust"),
    ]
    assert [f.name for f in player_events(events, players, matches).schema.fields] == [
        "event_id",
        "event_type",
        "event_time",
        "event_date",
        "player_id",
        "match_id",
        "lobby_id",
        "payment_id",
        "won",
        "country_code",
        "skill_tier",
        "map_name",
        "game_mode",
    ]
