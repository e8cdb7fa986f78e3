"""Bronze transforms on inline rows: each case says why the expected row is what it is."""

from __future__ import annotations

import json

import pytest

from sandbox.jobs.bronze import latest_changes
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
    event = {"event_id": "e1", "event_type": "player_login", "player_id": 7,
             "event_time": "2026-01-02T03:04:05.000+00:00", "platform": "pc"}  # fmt: skip
    envelope = {"Type": "Notification", "MessageId": "m1", "Message": json.dumps(event)}
    lines = spark.createDataFrame(
        [(json.dumps(envelope),), (json.dumps(event),),  # the same event twice: one survives
         (json.dumps({**event, "event_id": "e2"}),)],
        "value string",
    )  # fmt: skip
    rows = dedupe_events(unwrap_events(lines)).orderBy("event_id").collect()
    assert [r.event_id for r in rows] == ["e1", "e2"]
    assert rows[0].event_type == "player_login"
    assert str(rows[0].event_date) == "2026-01-02"
    assert rows[0].event_time.hour == 3
    assert json.loads(rows[1].payload)["player_id"] == 7
