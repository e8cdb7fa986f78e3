"""The warehouse load: all marts in one transaction, in place, so dependents survive.

Gold is written as Delta by a stand-in (the sample's expected marts, through
``deltalake``), so these tests need Postgres and S3 but no Spark.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from psycopg import sql

from sandbox.jobs.gold import GOLD_TABLES
from sandbox.jobs.layers import gold_path
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.settings import PROJECT_ROOT, Settings
from sandbox.serve.warehouse import WarehouseLoadError, load_marts, run_warehouse

pytestmark = pytest.mark.slow

EXPECTED = PROJECT_ROOT / "data_samples" / "expected_gold"
MARTS = [t.name for t in GOLD_TABLES]


def _arrow_type(values: list):
    sample = next(v for v in values if v is not None)
    if isinstance(sample, bool):
        return pa.bool_()
    if isinstance(sample, int):
        return pa.int64()
    if len(sample) == 10 and sample[4] == "-" and sample[7] == "-":
        return pa.date32()
    try:
        scale = len(sample.split(".")[1]) if "." in sample else None
        Decimal(sample)
    except ArithmeticError:
        scale = None
    return pa.decimal128(14, scale) if scale else pa.string()


def sample_mart(mart: str, keep: int | None = None) -> pa.Table:
    """The sample's expected rows of ``mart`` as Arrow (first ``keep`` rows only if given)."""
    rows = json.loads((EXPECTED / f"{mart}.json").read_text())[:keep]
    columns = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        t = _arrow_type(values)
        if pa.types.is_date(t):
            from datetime import date

            values = [date.fromisoformat(v) for v in values]
        elif pa.types.is_decimal(t):
            values = [Decimal(v) for v in values]
        columns[name] = pa.array(values, t)
    return pa.table(columns)


def run_marts(keep: int | None) -> dict[str, pa.Table]:
    return {m: sample_mart(m, keep) for m in MARTS}


@pytest.fixture
def warehouse(running_stack) -> Iterator[Settings]:
    """A fresh warehouse database and lake bucket of its own."""
    tag = uuid.uuid4().hex[:8]
    base = running_stack.settings
    settings = base.model_copy(update={"warehouse_db": f"wh_{tag}", "lake_bucket": f"lake-{tag}"})
    with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(settings.warehouse_db)))
    s3_client(settings).make_bucket(settings.lake_bucket)
    yield settings
    with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database {} with (force)").format(sql.Identifier(settings.warehouse_db))
        )
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(f"bi_{tag}")))


def write_gold(settings: Settings, marts: dict[str, pa.Table]) -> None:
    for mart, data in marts.items():
        write_deltalake(
            gold_path(settings, mart),
            data,
            mode="overwrite",
            schema_mode="overwrite",
            storage_options=settings.s3_storage_options(),
        )


def connect(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(settings.postgres_url(settings.warehouse_db), autocommit=True)


def counts(conn: psycopg.Connection) -> dict[str, int]:
    query = " union all ".join(f"select '{m}', count(*) from gold.{m}" for m in MARTS)
    return dict(conn.execute(query).fetchall())


def test_a_view_grant_and_comment_survive_repeated_loads(warehouse: Settings) -> None:
    role = f"bi_{warehouse.lake_bucket.split('-')[1]}"
    write_gold(warehouse, run_marts(keep=None))
    run_warehouse(warehouse)
    with connect(warehouse) as conn:
        conn.execute(
            "create view public.top_players as "
            "select nickname, mmr from gold.leaderboard where mmr > 0"
        )
        conn.execute(sql.SQL("create role {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("grant usage on schema gold to {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("grant select on gold.leaderboard to {}").format(sql.Identifier(role)))
    for keep in (5, None):  # two more loads: fewer rows, then all again
        write_gold(warehouse, run_marts(keep=keep))
        run_warehouse(warehouse)
        with connect(warehouse) as conn:
            top = conn.execute("select count(*) from public.top_players").fetchone()[0]
            assert top == counts(conn)["leaderboard"] == (keep or 100)
            assert conn.execute(
                "select has_table_privilege(%s, 'gold.leaderboard', 'select')", (role,)
            ).fetchone()[0]
            comment = conn.execute(
                "select obj_description('gold.leaderboard'::regclass, 'pg_class')"
            ).fetchone()[0]
            assert comment.startswith("Grain: one row per ranked player")


def test_a_reader_never_sees_two_runs_mixed(warehouse: Settings) -> None:
    old, new = run_marts(keep=3), run_marts(keep=None)
    old_counts = {m: t.num_rows for m, t in old.items()}
    new_counts = {m: t.num_rows for m, t in new.items()}
    with connect(warehouse) as loader, connect(warehouse) as reader:
        load_marts(loader, old)
        assert counts(reader) == old_counts
        # A reader whose snapshot began before the load keeps it: all old, to the end.
        long_reader = connect(warehouse)
        long_reader.autocommit = False
        long_reader.execute("set transaction isolation level repeatable read")
        assert counts(long_reader)["leaderboard"] == 3
        seen_during = []

        def look(message: str) -> None:
            # Called inside the load's transaction, after each mart: some marts are
            # already replaced there, and still none of it shows to another connection.
            seen_during.append(counts(reader))

        load_marts(loader, new, progress=look)
        assert seen_during and all(c == old_counts for c in seen_during)
        assert counts(long_reader) == old_counts
        long_reader.rollback()
        long_reader.close()
        assert counts(reader) == new_counts


def test_concurrent_reads_during_loads_see_one_run_each(warehouse: Settings) -> None:
    runs = [run_marts(keep=k) for k in (2, 4, None)]
    wanted = [{m: t.num_rows for m, t in r.items()} for r in runs]
    with connect(warehouse) as loader:
        load_marts(loader, runs[0])
    stop = threading.Event()
    seen: list[dict] = []

    def read() -> None:
        with connect(warehouse) as reader:
            while not stop.is_set():
                seen.append(counts(reader))  # one statement: one snapshot

    thread = threading.Thread(target=read)
    thread.start()
    try:
        with connect(warehouse) as loader:
            for marts in runs[1:] * 2:
                load_marts(loader, marts)
    finally:
        stop.set()
        thread.join()
    assert seen
    assert all(c in wanted for c in seen), [c for c in seen if c not in wanted][:1]


def test_a_failed_load_changes_nothing_and_names_the_mart(warehouse: Settings) -> None:
    good = run_marts(keep=None)
    with connect(warehouse) as conn:
        load_marts(conn, good)
        before = counts(conn)
        broken = run_marts(keep=2)
        # Planted: a duplicate key in a mart loaded after several good ones.
        dup = broken["leaderboard"]
        broken["leaderboard"] = pa.concat_tables([dup, dup.slice(0, 1)])
        kept = r"gold\.leaderboard failed, the previous warehouse is kept"
        with pytest.raises(WarehouseLoadError, match=kept):
            load_marts(conn, broken)
        assert counts(conn) == before


def test_a_new_gold_column_is_added_in_place(warehouse: Settings) -> None:
    marts = run_marts(keep=None)
    with connect(warehouse) as conn:
        load_marts(conn, marts)
        conn.execute("create view public.maps as select * from gold.matches_per_map_daily")
        wider = marts["matches_per_map_daily"]
        marts["matches_per_map_daily"] = wider.append_column(
            "note", pa.array(["x"] * wider.num_rows)
        )
        load_marts(conn, marts)
        assert conn.execute("select count(*) from public.maps").fetchone()[0] == wider.num_rows
        assert conn.execute("select count(note) from gold.matches_per_map_daily").fetchone()[0]


def load_xids(conn: psycopg.Connection) -> dict[str, str]:
    """The transaction that wrote each mart's rows (a reload writes them anew)."""
    query = " union all ".join(f"select '{m}', max(xmin::text) from gold.{m}" for m in MARTS)
    return dict(conn.execute(query).fetchall())


def test_a_load_leaves_marts_that_hold_their_current_gold_version(warehouse: Settings) -> None:
    write_gold(warehouse, run_marts(keep=None))
    first = run_warehouse(warehouse)
    with connect(warehouse) as conn:
        loaded = load_xids(conn)
    said: list[str] = []
    again = run_warehouse(warehouse, said.append)
    assert again.rows == first.rows
    assert said[-1] == "warehouse: 0 marts committed in one transaction, 8 unchanged"
    # A new gold version of one mart, and a comment someone changed on another: those
    # two are loaded, in one transaction; the others keep their rows untouched.
    write_gold(warehouse, {"leaderboard": sample_mart("leaderboard", keep=7)})
    with connect(warehouse) as conn:
        conn.execute("comment on table gold.win_rate_by_tier is 'edited by hand'")
    report = run_warehouse(warehouse)
    assert report.rows["leaderboard"] == 7 and list(report.rows) == MARTS
    with connect(warehouse) as conn:
        now = load_xids(conn)
        assert {m for m in MARTS if now[m] != loaded[m]} == {"leaderboard", "win_rate_by_tier"}
        assert len({now["leaderboard"], now["win_rate_by_tier"]}) == 1
        assert counts(conn)["leaderboard"] == 7
    run_warehouse(warehouse, force=True)
    with connect(warehouse) as conn:
        forced = load_xids(conn)
    assert all(forced[m] != now[m] for m in MARTS)
