"""Gold on Sail equals two independent references (DuckDB SQL, Polars), on any data.

The references share no code with the gold jobs, so a change to a job that alters
its results fails here even when the job's own expected outputs were regenerated.
They run on the committed sample and on a simulated workload: a seeded app database
driven by the simulator (signups, matches, subscriptions, cancellations, refunds,
deleted accounts) plus a plan the generator never makes, with the live events.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from sandbox.app import generator, loader
from sandbox.app.simulator import Simulator
from sandbox.bench import local_run
from sandbox.bench.reference import duckdb_gold, normalize_spark, polars_gold
from sandbox.ingest.events.samples import sample_events, write_sample_events
from sandbox.platform.settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "data_samples"
ENGINES = pytest.mark.parametrize("engine", [duckdb_gold, polars_gold], ids=["duckdb", "polars"])


def sail_gold(input_dir: Path, out: Path) -> tuple[dict, Path]:
    return normalize_spark(local_run("sail", input_dir, out)["gold"]), out / "silver"


def assert_same_marts(expected: dict, got: dict) -> None:
    assert got.keys() == expected.keys()
    for mart, rows in expected.items():
        assert rows, mart
        assert got[mart] == rows, mart


@pytest.fixture(scope="module")
def sail_run(tmp_path_factory) -> tuple[dict, Path]:
    return sail_gold(SAMPLES, tmp_path_factory.mktemp("sail"))


@ENGINES
def test_reference_marts_equal_the_spark_marts(sail_run, engine) -> None:
    expected, silver = sail_run
    assert_same_marts(expected, engine(silver))


def export_database(conn: psycopg.Connection, like: dict[str, pa.Table], folder: Path) -> None:
    """The app tables as ``<folder>/app/<table>.parquet``, typed like the generator's."""
    (folder / "app").mkdir(parents=True)
    for name, table in like.items():
        cols = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
        cur = conn.execute(sql.SQL("select {} from {}").format(cols, sql.Identifier(name)))
        rows = [dict(zip(table.column_names, r, strict=True)) for r in cur.fetchall()]
        data = pa.Table.from_pylist(rows, schema=table.schema)
        pq.write_table(data, folder / "app" / f"{name}.parquet")


@pytest.fixture(scope="module")
def simulated_run(running_stack, tmp_path_factory) -> tuple[dict, Path]:
    base = running_stack.settings
    db = f"app_ref_{uuid.uuid4().hex[:8]}"
    scale, seed = 0.05, 11
    folder = tmp_path_factory.mktemp("simulated")
    with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(db)))
    try:
        with psycopg.connect(base.postgres_url(db), autocommit=True) as conn:
            loader.seed(conn, scale=scale, seed=seed)
            initial = generator.generate(scale, seed)
            events = sample_events(initial, seed)  # the history, then live traffic
            conn.execute(
                "insert into plans (plan_id, name, price_brl, period_months, created_at)"
                " values ('weekly', 'Pro Semanal', 6.90, 1, '2025-07-01')"
            )
            conn.execute(
                "update subscriptions set plan_id = 'weekly' where subscription_id % 7 = 0"
            )
            Simulator(conn, seed=seed, on_event=events.append).run(changes=1500)
            export_database(conn, initial, folder)
        write_sample_events(events, folder / "events")
    finally:
        with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(db)))
    return sail_gold(folder, tmp_path_factory.mktemp("sail-simulated"))


@pytest.mark.matrix  # the simulated workload: 30 s; CI runs it after the default run
@pytest.mark.slow
@ENGINES
def test_reference_marts_equal_the_spark_marts_on_a_simulated_workload(
    simulated_run, engine
) -> None:
    expected, silver = simulated_run
    assert "weekly" in {r["plan_id"] for r in expected["revenue_by_plan_monthly"]}
    assert_same_marts(expected, engine(silver))
