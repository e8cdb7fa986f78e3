"""Silver's events domain: the application's events, one row per player taking part.

The accepted event types are silver's contract with the event streams, declared here.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sandbox.jobs import quality as q
from sandbox.jobs.silver.table import SilverTable

EVENT_TYPES = ("player_login", "lobby_created", "match_started", "match_finished", "purchase")

# The per-player result of a finished match, in its payload.
RESULTS_SCHEMA = (
    "array<struct<player_id:bigint,team:int,kills:int,deaths:int,assists:int,won:boolean>>"
)


def player_events(events: DataFrame, players: DataFrame, matches: DataFrame) -> DataFrame:
    """One row per (event, player) with the player's and the match's attributes.

    ``match_started`` lists several players and ``match_finished`` carries a result
    per player: both become one row per player taking part.

    Each kind is its own read of the events. Reading them once instead, as a list of
    (player, won) pairs per event (``transform``) exploded once, counted faster at
    scale 1 (0.14 s against 0.20 s) but made silver on Sail 60% slower at scale 16.
    """
    p = F.col("payload")

    def js(path: str, cast: str = "bigint") -> Column:
        return F.get_json_object(p, path).cast(cast)

    base = events.select(
        "event_id",
        "event_type",
        "event_time",
        "event_date",
        "payload",
        js("$.match_id").alias("match_id"),
        js("$.lobby_id").alias("lobby_id"),
        js("$.payment_id").alias("payment_id"),
    )
    single = base.where(~F.col("event_type").isin("match_started", "match_finished")).select(
        "*", js("$.player_id").alias("player_id"), F.lit(None).cast("boolean").alias("won")
    )
    # explode_outer: an event whose list is empty, missing or unreadable keeps one row
    # with no player, which the not_null(player_id) rule sends to the quarantine
    # instead of explode dropping it unseen.
    started = base.where(F.col("event_type") == "match_started").select(
        "*",
        F.explode_outer(F.from_json(F.get_json_object(p, "$.player_ids"), "array<bigint>")).alias(
            "player_id"
        ),
        F.lit(None).cast("boolean").alias("won"),
    )
    finished = (
        base.where(F.col("event_type") == "match_finished")
        .select(
            "*",
            F.explode_outer(F.from_json(F.get_json_object(p, "$.results"), RESULTS_SCHEMA)).alias(
                "r"
            ),
        )
        .select("*", F.col("r.player_id").alias("player_id"), F.col("r.won").alias("won"))
        .drop("r")
    )
    rows = single.unionByName(started).unionByName(finished).drop("payload")
    pl = players.select("player_id", "country_code", "skill_tier")
    mt = matches.select("match_id", "map_name", "game_mode")
    return (
        rows.join(pl, "player_id", "left")
        .join(mt, "match_id", "left")
        .select(
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
        )
    )


TABLES: list[SilverTable] = [
    SilverTable(
        "events",
        "player_events",
        lambda b: player_events(b["events"], b["dim_player"], b["fct_match"]),
        (
            q.not_null("event_time"),
            q.not_null("player_id"),
            q.accepted_values("event_type", EVENT_TYPES),
            q.relationship("player_id", "dim_player.player_id"),
            q.relationship("match_id", "fct_match.match_id"),
        ),
    ),
]
