"""Silver's accepted values are silver's own contract with the source.

They are declared in silver's domain modules, never derived from the application's
code, so the rule can catch the source drifting: the generator must emit only accepted
values (checked here on a fresh generation, not only the committed sample), and a value
outside the contract must land in the quarantine with the rule that caught it.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sandbox.app import loader
from sandbox.jobs import silver
from sandbox.jobs.silver import build_silver

JOBS = Path(silver.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    loader.export(out, scale=0.05, seed=99)
    return out


def values(path: Path, table: str, column: str) -> set:
    col = pq.read_table(path / "app" / f"{table}.parquet", columns=[column]).column(column)
    return set(pc.unique(col).to_pylist()) - {None}


@pytest.mark.parametrize(
    ("table", "column", "accepted"),
    [
        ("players", "skill_tier", silver.SKILL_TIERS),
        ("payments", "method", silver.PAYMENT_METHODS),
        ("payments", "status", silver.PAYMENT_STATUSES),
        ("subscriptions", "status", silver.SUBSCRIPTION_STATUSES),
        ("matches", "winning_team", silver.WINNING_TEAMS),
    ],
)
def test_the_generator_emits_only_accepted_values(
    generated: Path, table: str, column: str, accepted: tuple
) -> None:
    emitted = values(generated, table, column)
    assert emitted, f"{table}.{column} is empty: the check would pass vacuously"
    assert emitted <= set(accepted), emitted - set(accepted)


def test_the_events_emit_only_accepted_types(generated: Path) -> None:
    types = {
        json.loads(line)["event_type"]
        for f in (generated / "events").glob("*.jsonl")
        for line in f.read_text().splitlines()
    }
    assert types and types <= set(silver.EVENT_TYPES), types - set(silver.EVENT_TYPES)


def test_silver_imports_nothing_from_the_application() -> None:
    for path in (JOBS).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("sandbox.app"), f"{path} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("sandbox.app"), f"{path} imports it"


@pytest.mark.parametrize(
    ("source", "column", "value", "table", "rule"),
    [
        # a payment method the source started sending: caught, not passed
        ("payments", "method", "crypto", "fct_payment", "accepted_values(payment_method)"),
        ("players", "skill_tier", "legend", "dim_player", "accepted_values(skill_tier)"),
    ],
)
def test_a_value_outside_the_contract_lands_in_the_quarantine(
    spark, sample_bronze, source: str, column: str, value: str, table: str, rule: str
) -> None:
    from pyspark.sql import functions as F

    frame = sample_bronze[source]
    first = frame.orderBy(frame.columns[0]).first()[frame.columns[0]]
    key = F.col(frame.columns[0]) == F.lit(first)
    drifted = frame.withColumn(column, F.when(key, F.lit(value)).otherwise(F.col(column)))
    frames, report = build_silver(dict(sample_bronze, **{source: drifted}))
    assert report.rules[table][rule] == 1
    assert report.quarantined[table] >= 1
    assert report.rows[table] == frames[table].count()


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        # no results (an older producer, or one past the door's check): nothing to explode
        ("match_finished", '{"match_id": %d, "winning_team": 1, "results": []}'),
        ("match_started", '{"match_id": %d, "lobby_id": 1, "player_ids": []}'),
        ("match_finished", '{"match_id": %d, "results": "not a list"}'),
    ],
)
def test_an_event_silver_cannot_explode_is_quarantined_not_dropped(
    spark, sample_bronze, event_type: str, payload: str
) -> None:
    from pyspark.sql import functions as F

    events = sample_bronze["events"]
    rule = "not_null(player_id)"
    _, before = build_silver(sample_bronze)
    target = events.where(F.col("event_type") == event_type).orderBy("event_id").first()
    match_id = json.loads(target["payload"])["match_id"]
    key = F.col("event_id") == F.lit(target["event_id"])
    emptied = events.withColumn(
        "payload", F.when(key, F.lit(payload % match_id)).otherwise(F.col("payload"))
    )
    _, after = build_silver(dict(sample_bronze, events=emptied))
    assert (
        after.rules["player_events"].get(rule, 0) == before.rules["player_events"].get(rule, 0) + 1
    )
    assert after.quarantined["player_events"] == before.quarantined["player_events"] + 1
