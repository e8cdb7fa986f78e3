"""Silver on Sail equals two independent references (DuckDB SQL, Polars), quarantine too.

The references share only the rule declarations with the silver job; the transforms
are written again per engine. The sample gets planted faults so that three kinds of
rule quarantine rows (a null nickname, an undeclared payment status, a payment and
an event from a player who does not exist), and the references must put the
same rows in the same quarantine with the same ``_failed_rules``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sandbox.bench import local_run
from sandbox.bench.silver_polars import polars_silver
from sandbox.bench.silver_reference import (
    as_records,
    differences,
    duckdb_silver,
    sail_silver,
    same_rows,
)
from sandbox.platform.settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "data_samples"
ENGINES = pytest.mark.parametrize(
    "engine", [duckdb_silver, polars_silver], ids=["duckdb", "polars"]
)


def plant_faults(folder: Path) -> None:
    app = folder / "app"
    players = pq.read_table(app / "players.parquet")
    nick = players.column("nickname").to_pylist()
    nick[3] = None  # not_null(nickname)
    index = players.schema.get_field_index("nickname")
    players = players.set_column(index, "nickname", pa.array(nick, pa.string()))
    pq.write_table(players, app / "players.parquet")
    payments = pq.read_table(app / "payments.parquet")
    status = payments.column("status").to_pylist()
    status[0] = "chargeback"  # accepted_values(payment_status)
    payments = payments.set_column(
        payments.schema.get_field_index("status"), "status", pa.array(status, pa.string())
    )
    # A payment of a player who does not exist: relationship(player_id). (A duplicate
    # key would trip a blocking unique rule and stop the run, which test_quality covers.)
    orphan = (
        payments.slice(1, 1)
        .set_column(payments.schema.get_field_index("payment_id"), "payment_id", pa.array([10**9]))
        .set_column(payments.schema.get_field_index("player_id"), "player_id", pa.array([10**9]))
    )
    pq.write_table(pa.concat_tables([payments, orphan]), app / "payments.parquet")
    events = folder / "events" / "gameplay-events.jsonl"
    first = json.loads(events.read_text().splitlines()[0])
    first |= {"event_id": "00000000-0000-0000-0000-00000000dead", "player_id": 10**9}
    events.write_text(events.read_text() + json.dumps(first) + "\n")


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("faulty")
    shutil.copytree(SAMPLES / "app", folder / "app")
    shutil.copytree(SAMPLES / "events", folder / "events")
    plant_faults(folder)
    out = tmp_path_factory.mktemp("sail")
    local_run("sail", folder, out)
    return sail_silver(out), out


def test_the_planted_faults_are_quarantined_by_sail(faulty_run) -> None:
    silver, _ = faulty_run
    rules = {
        t: sorted({r for row in q for r in row["_failed_rules"]})
        for t, (_, q) in silver.items()
        if q
    }
    assert rules == {
        "dim_player": ["not_null(nickname)"],
        "fct_payment": [
            "accepted_values(payment_status)",
            "relationship(player_id -> dim_player.player_id)",
        ],
        "player_events": ["relationship(player_id -> dim_player.player_id)"],
    }


@ENGINES
def test_reference_silver_equals_sail_silver(faulty_run, engine, tmp_path) -> None:
    expected, out = faulty_run
    got = engine(out / "bronze", tmp_path)
    assert differences(expected, as_records(got)) == []
    # The folder comparison the benchmark uses agrees, table by table.
    for name, (passed, _) in expected.items():
        assert passed
        assert same_rows(out / "silver" / name, tmp_path / "silver" / name), name


def test_same_rows_sees_one_changed_value(tmp_path) -> None:
    table = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})
    for name, data in (
        ("a", table),
        ("b", table.slice(0, 3)),
        ("c", table.set_column(1, "v", pc.replace_substring(table.column("v"), "c", "x"))),
    ):
        (tmp_path / name).mkdir()
        pq.write_table(data, tmp_path / name / "part.parquet")
    assert same_rows(tmp_path / "a", tmp_path / "b")
    assert not same_rows(tmp_path / "a", tmp_path / "c")
