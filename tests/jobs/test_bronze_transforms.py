"""Bronze transforms on inline rows: each case says why the expected row is what it is."""

from __future__ import annotations

import json

import pytest

from sandbox.jobs.bronze import arrow_frame, latest_changes
from sandbox.jobs.bronze_events import dedupe_events, unwrap_events

SCHEMA = "id long, v string, Op string, seq string"

CASES = [
    # several updates of one row in one transaction: the highest sequence wins
    ([(1, "a", "I", "01"), (1, "b", "U", "02"), (1, "c", "U", "03")], [(1, "c", "U")]),
    # file order is not commit order: the sequence decides, not the position
    ([(1, "late", "U", "09"), (1, "early", "U", "05")], [(1, "late", "U")]),
    # inserted and deleted in one transaction: the delete is the last word
    ([(2, "x", "I", "10"), (2, None, "D", "11")], [(2, None, "D")]),
    # keys are independent
    ([(1, "a", "I", "01"), (2, "b", "I", "02")], [(1, "a", "I"), (2, "b", "I")]),
]


@pytest.mark.parametrize(("rows", "expected"), CASES)
def test_latest_change_per_key(spark, rows, expected) -> None:
    df = spark.createDataFrame(rows, SCHEMA)
    out = latest_changes(df, ["id"], "seq").select("id", "v", "Op").orderBy("id").collect()
    assert [tuple(r) for r in out] == expected


def test_unwrap_envelopes_and_bare_events_and_dedupe(spark) -> None:
    event = {
        "event_id": "e1",
        "event_type": "player_login",
        "player_id": 7,
        "event_time": "2026-01-02T03:04:05.000+00:00",
        "platform": "pc",
    }
    envelope = {"Type": "Notification", "MessageId": "m1", "Message": json.dumps(event)}
    lines = spark.createDataFrame(
        [
            (json.dumps(envelope),),
            (json.dumps(event),),  # the same event twice: one survives
            (json.dumps({**event, "event_id": "e2"}),),
        ],
        "value string",
    )
    rows = dedupe_events(unwrap_events(lines)).orderBy("event_id").collect()
    assert [r.event_id for r in rows] == ["e1", "e2"]
    assert rows[0].event_type == "player_login"
    assert str(rows[0].event_date) == "2026-01-02"
    assert rows[0].event_time.hour == 3
    assert json.loads(rows[1].payload)["player_id"] == 7


@pytest.mark.parametrize("with_sequence", [False, True])
def test_arrow_latest_rows_agrees_with_the_window(spark, with_sequence: bool) -> None:
    # Bronze dedupes in Arrow (bronze_raw.latest_rows); the window is the reference.
    import random

    import pyarrow as pa

    from sandbox.ingest.dms.mappings import TableMapping
    from sandbox.jobs.bronze_raw import ORDER, latest_rows, normalize
    from sandbox.platform.settings import DmsSettings

    rng = random.Random(7 + with_sequence)
    cfg = DmsSettings(
        include_op_for_full_load=False,
        timestamp_column_name=None,
        change_seq_column_name="seq" if with_sequence else None,
    )
    mapping = TableMapping(
        "public", "t", ["a", "b"], "d", [("a", "int64"), ("b", "string"), ("v", "int64")]
    )
    files = []
    for _ in range(5):
        n = rng.randint(0, 80)
        files.append(
            pa.table(
                {
                    "Op": [rng.choice("IUD") for _ in range(n)],
                    "a": [rng.choice([None, 1, 2, 3]) for _ in range(n)],
                    "b": [rng.choice([None, "x", "y"]) for _ in range(n)],
                    "v": list(range(n)),
                    "seq": [
                        rng.choice(["", "01", "02", "10"]) for _ in range(n)
                    ],  # ties on purpose
                }
            )
        )
    raw = normalize(files, cfg=cfg, mapping=mapping)
    arrow = {tuple(r.values()) for r in latest_rows(raw, ["a", "b"]).to_pylist()}
    window = latest_changes(arrow_frame(spark, raw.combine_chunks()), ["a", "b"], ORDER)
    assert arrow == {tuple(r) for r in window.select(*raw.column_names).collect()}
    assert len(arrow) == len({(r["a"], r["b"]) for r in raw.to_pylist()})
