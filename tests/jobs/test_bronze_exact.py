"""Bronze equals the source, row for row, off the demo path.

AWS-default DMS settings, a schema the project has never seen (enums, arrays, tsvector,
bytea, domains, uuid, a range-partitioned table, generated columns, triggers, TOAST,
infinity and NaN, a table without a key, DDL mid-stream), and SIGKILLs of
``sandbox ingest dms --follow`` under concurrent pgbench load. Every case compares
bronze with the source through ``tests/oracle.py``, which shares no code with the jobs.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from sandbox.app.simulator import Simulator
from sandbox.ingest.dms import DmsSlotLostError, DmsTask
from sandbox.jobs.bronze import BronzeError, run_bronze
from sandbox.jobs.layers import bronze_path
from sandbox.platform.services.postgres import postgres_bin_dir
from sandbox.platform.session import spark_session
from sandbox.platform.settings import Settings
from tests.conftest import fresh_source
from tests.oracle import bronze_table_rows, canon, primary_key, source_select

pytestmark = pytest.mark.slow

# What AWS gives a new DMS S3 endpoint: no Op on full-load rows, no timestamp column,
# and no change-sequence column (that needs a transformation rule most tasks lack).
AWS_DEFAULTS = {
    "include_op_for_full_load": False,
    "timestamp_column_name": None,
    "change_seq_column_name": None,
}


def dms_then_bronze(settings: Settings):
    DmsTask(settings).run()
    spark = spark_session(settings)
    run_bronze(spark, settings)
    return spark


def source_tables(settings: Settings) -> list[str]:
    with psycopg.connect(settings.postgres_url()) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition"
            ).fetchall()
        ]


def key_of(settings: Settings, table: str) -> list[str]:
    with psycopg.connect(settings.postgres_url()) as conn:
        return primary_key(conn, "public", table)


def assert_replica(spark, settings: Settings, table: str, query: str | None = None) -> None:
    key = key_of(settings, table)
    expected = source_select(settings, query or f'select * from "{table}"', key)
    got = bronze_table_rows(spark, bronze_path(settings, "public", table), key)
    assert len(got) == len(expected), table
    assert got == expected, table


def simulate(settings: Settings, changes: int, seed: int) -> None:
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        Simulator(conn, seed=seed).run(changes=changes)


# -- the game schema under DMS setting combinations --------------------------------

SETTINGS_CASES = [
    pytest.param(AWS_DEFAULTS, id="aws-defaults"),
    pytest.param({}, id="sandbox-defaults"),  # Op on full load, timestamp, change sequence
    pytest.param(
        AWS_DEFAULTS | {"cdc_path": "cdc", "date_partition_enabled": True, "max_file_size_kb": 64},
        id="aws-defaults-cdcpath-datepartition-small-files",
    ),
    pytest.param(
        {
            "include_op_for_full_load": False,
            "timestamp_column_name": "ts",
            "change_seq_column_name": None,
            "max_batch_changes": 50,
        },
        id="timestamp-only-small-batches",
        marks=pytest.mark.matrix,
    ),
    pytest.param(
        {
            "include_op_for_full_load": True,
            "timestamp_column_name": None,
            "change_seq_column_name": "seq",
            "cdc_path": "changes",
        },
        id="op-and-seq-cdcpath",
        marks=pytest.mark.matrix,
    ),
]


@pytest.mark.parametrize("dms", SETTINGS_CASES)
def test_game_schema_bronze_equals_source(running_stack, dms: dict) -> None:
    with fresh_source(running_stack, **dms) as settings:
        spark = dms_then_bronze(settings)
        tables = source_tables(settings)
        for table in tables:
            assert_replica(spark, settings, table)
        for round_, changes in enumerate((1500, 400)):
            simulate(settings, changes, seed=11 + round_)
            spark = dms_then_bronze(settings)
            for table in tables:
                assert_replica(spark, settings, table)


def test_cdc_inserts_only_is_not_a_replica_but_loses_no_insert(running_stack) -> None:
    # CdcInsertsOnly is an audit trail, not a replica: documented, and checked here to
    # keep every inserted row.
    with fresh_source(running_stack, cdc_inserts_only=True, **AWS_DEFAULTS) as settings:
        spark = dms_then_bronze(settings)
        with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
            conn.execute(
                "insert into plans (plan_id, name, price_brl, period_months) "
                "values ('weekly', 'Weekly', 9.90, 1)"
            )
            conn.execute("delete from plans where plan_id = 'weekly'")
        spark = dms_then_bronze(settings)
        plans = spark.read.format("delta").load(bronze_path(settings, "public", "plans"))
        assert plans.where("plan_id = 'weekly'").count() == 1


# -- a schema the project has never seen --------------------------------------------

FOREIGN_DDL = """
create type mood as enum ('calm', 'tilted', 'tired');
create domain money_brl as numeric(12, 2) check (value >= 0);
create table accounts (
    id uuid primary key default gen_random_uuid(),
    handle text not null,
    mood mood,
    tags text[],
    doc tsvector,
    avatar bytea,
    balance money_brl,
    bio text,
    seen_at timestamptz,
    score numeric(10, 2),
    ratio float8,
    handle_len int generated always as (length(handle)) stored
);
alter table accounts alter column bio set storage external;  -- out of line, uncompressed
create table readings (
    sensor int, taken_on date, value numeric(8, 3), note text,
    primary key (sensor, taken_on)
) partition by range (taken_on);
create table readings_2025 partition of readings for values from ('2025-01-01') to ('2026-01-01');
create table readings_2026 partition of readings for values from ('2026-01-01') to ('2027-01-01');
create table audit (at timestamptz not null default clock_timestamp(), what text);
create function audit_accounts() returns trigger language plpgsql as $$
begin
    insert into audit (what) values (tg_op || ' ' || new.handle);
    return new;
end $$;
create trigger accounts_audit after insert or update on accounts
    for each row execute function audit_accounts();
"""

ACCOUNTS = """
select id::text as id, handle, mood::text as mood, {tags}::text as {tags}, doc::text as doc,
       avatar, balance, bio,
       case when seen_at = 'infinity' then '9999-12-31 23:59:59.999999+00'::timestamptz
            when seen_at = '-infinity' then '0001-01-01 00:00:00+00'::timestamptz
            else seen_at end as seen_at,
       nullif(score, 'NaN') as score{ratio}, handle_len
from accounts
"""  # infinity is clamped and a decimal NaN is NULL in Parquet: the documented mapping


def _account(rng: random.Random) -> tuple:
    seen = rng.choice(["2026-03-04 05:06:07.123456+00", "infinity", "-infinity", None])
    return (
        f"h{rng.randrange(10**9)}",
        rng.choice(["calm", "tilted", "tired", None]),
        [rng.choice("abc{}, \"'") * rng.randint(1, 3) for _ in range(rng.randint(0, 3))],
        f"word{rng.randrange(50)} other{rng.randrange(50)}",
        rng.randbytes(rng.randint(0, 40)),
        round(rng.uniform(0, 1000), 2),
        "".join(rng.choice("abcdefghij{}") for _ in range(rng.choice([10, 9000]))),
        seen,
        rng.choice([round(rng.uniform(-100, 100), 2), "NaN"]),
        rng.random(),
    )


def insert_account(tags: str = "tags", ratio: bool = True) -> str:
    return (
        f"insert into accounts (handle, mood, {tags}, doc, avatar, balance, bio, seen_at, "
        f"score{', ratio' if ratio else ''}) values (%s, %s, %s, to_tsvector('simple', %s), "
        f"%s, %s, %s, %s, %s{', %s' if ratio else ''})"
    )


def _foreign_workload(conn: psycopg.Connection, rng: random.Random, n: int) -> None:
    for _ in range(n):
        conn.execute(insert_account(), _account(rng))
    for i in range(n):
        day = f"202{rng.choice([5, 6])}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        conn.execute(
            "insert into readings values (%s, %s, %s, %s) on conflict do nothing",
            (i % 17, day, rng.uniform(0, 99), rng.choice(["ok", None])),
        )


def _foreign_changes(conn: psycopg.Connection, rng: random.Random) -> None:
    ids = [r[0] for r in conn.execute("select id from accounts").fetchall()]
    for account in rng.sample(ids, len(ids) // 3):
        # leaves bio (TOASTed, out of line) unchanged: pgoutput does not send it
        conn.execute(
            "update accounts set mood = 'tired', score = score + 1 where id = %s", (account,)
        )
    for account in rng.sample(ids, len(ids) // 6):
        conn.execute("update accounts set handle = handle || 'x' where id = %s", (account,))
    for account in rng.sample(ids, len(ids) // 8):
        conn.execute("delete from accounts where id = %s", (account,))
    # rows that move between partitions, updates and deletes on the partitioned root
    conn.execute(
        "update readings set taken_on = taken_on + interval '1 year' "
        "where taken_on < '2026-01-01' and sensor % 3 = 0"
    )
    conn.execute("update readings set value = value * 2 where sensor % 4 = 1")
    conn.execute("delete from readings where sensor % 5 = 2")


def _assert_foreign(spark, settings: Settings, *, tags: str = "tags", ratio: bool = True) -> None:
    assert_replica(
        spark, settings, "accounts", ACCOUNTS.format(tags=tags, ratio=", ratio" if ratio else "")
    )
    assert_replica(spark, settings, "readings")
    # no key: insert-only, compared as a multiset
    expected = Counter(
        tuple(canon(v) for v in r.values())
        for r in source_select(
            settings, "select row_number() over () as n, * from audit", ["n"]
        ).values()
        for r in [{k: v for k, v in r.items() if k != "n"}]
    )
    rows = spark.read.format("delta").load(bronze_path(settings, "public", "audit")).collect()
    assert Counter(tuple(canon(v) for v in r) for r in rows) == expected


@pytest.mark.parametrize(
    "dms", [pytest.param(AWS_DEFAULTS, id="aws-defaults"), pytest.param({}, id="sandbox-defaults")]
)
def test_foreign_schema_bronze_equals_source(running_stack, dms: dict) -> None:
    rng = random.Random(5)
    with (
        fresh_source(running_stack, seed=False, **dms) as settings,
        psycopg.connect(settings.postgres_url(), autocommit=True) as conn,
    ):
        conn.execute(FOREIGN_DDL)
        _foreign_workload(conn, rng, 60)
        spark = dms_then_bronze(settings)
        _assert_foreign(spark, settings)

        _foreign_workload(conn, rng, 30)
        _foreign_changes(conn, rng)
        spark = dms_then_bronze(settings)
        _assert_foreign(spark, settings)

        # DDL: a widened key type, a rename, and a drop between two inserts in one
        # transaction, then more changes
        conn.execute("alter table readings alter column sensor type bigint")
        conn.execute("alter table accounts rename column tags to labels")
        with conn.transaction():
            conn.execute(insert_account("labels"), _account(rng))
            conn.execute("alter table accounts drop column ratio")
            conn.execute(insert_account("labels", ratio=False), _account(rng)[:-1])
        conn.execute("update accounts set labels = '{renamed}' where mood = 'calm'")
        conn.execute("update readings set note = 'after' where sensor % 2 = 0")
        spark = dms_then_bronze(settings)
        _assert_foreign(spark, settings, tags="labels", ratio=False)


def test_a_table_bronze_cannot_apply_is_named(running_stack) -> None:
    with fresh_source(running_stack, seed=False) as settings:
        with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
            conn.execute("create table t (id int primary key, v text)")
            conn.execute("insert into t values (1, 'a')")
        DmsTask(settings).run()
        # lose the table mapping DMS recorded: bronze must say so, not skip the table
        from sandbox.ingest.dms.mappings import mapping_key
        from sandbox.platform.services.s3 import s3_client

        s3 = s3_client(settings)
        s3.remove_object(
            settings.raw_bucket, mapping_key(settings.dms.bucket_folder, "public", "t")
        )
        with pytest.raises(BronzeError, match=r"public\.t is in raw"):
            run_bronze(spark_session(settings), settings)


def test_a_second_full_load_does_not_bring_deleted_rows_back(running_stack) -> None:
    with fresh_source(running_stack, **AWS_DEFAULTS) as settings:
        simulate(settings, 300, seed=2)
        spark = dms_then_bronze(settings)
        with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
            conn.execute(
                "delete from match_players where match_id in "
                "(select match_id from matches order by match_id limit 5)"
            )
            spark = dms_then_bronze(settings)
            # the slot is lost (dropped by an operator, a failover): DMS stops and says
            # so; the user reloads
            conn.execute("select pg_drop_replication_slot(%s)", (settings.dms.slot_name,))
        simulate(settings, 200, seed=3)
        with pytest.raises(DmsSlotLostError, match="--reload"):
            DmsTask(settings).run()
        DmsTask(settings).run(reload=True)
        spark = dms_then_bronze(settings)
        for table in source_tables(settings):
            assert_replica(spark, settings, table)


# -- SIGKILLs under concurrent writers ------------------------------------------------


@pytest.mark.matrix  # 15 s of pgbench and SIGKILLs; CI runs it after the default run
def test_sigkilled_follow_under_pgbench_load_still_replicates_exactly(running_stack) -> None:
    with fresh_source(running_stack, seed=False, **AWS_DEFAULTS) as settings:
        bindir = postgres_bin_dir(settings.postgres_version)
        env = (
            os.environ
            | settings.as_env()
            | {"PGPASSWORD": settings.postgres_password.get_secret_value()}
        )
        pg = ["-h", settings.host, "-p", str(settings.postgres_port), "-U", settings.postgres_user]
        subprocess.run(
            [str(bindir / "pgbench"), "-i", "-q", "-s", "1", *pg, settings.app_db],
            env=env,
            check=True,
            capture_output=True,
        )
        DmsTask(settings).run()
        load = subprocess.Popen(
            [str(bindir / "pgbench"), "-c", "4", "-j", "2", "-T", "8", *pg, settings.app_db],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        rng = random.Random(8)
        kills = 0
        while load.poll() is None:
            follow = subprocess.Popen(
                [sys.executable, "-m", "sandbox", "ingest", "dms", "--follow"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(1.0, 2.5))
            follow.send_signal(signal.SIGKILL)
            follow.wait()
            kills += 1
        assert load.returncode == 0, load.stderr.read()
        assert kills >= 3
        spark = dms_then_bronze(settings)
        for table in ("pgbench_accounts", "pgbench_branches", "pgbench_tellers"):
            assert_replica(spark, settings, table)
        history = source_select(
            settings, "select row_number() over () as n, * from pgbench_history", ["n"]
        )
        expected = Counter(tuple(v for k, v in r.items() if k != "n") for r in history.values())
        rows = spark.read.format("delta").load(bronze_path(settings, "public", "pgbench_history"))
        assert Counter(tuple(canon(v) for v in r) for r in rows.collect()) == expected


@pytest.mark.matrix  # two bronze processes on one home; CI runs it after the default run
def test_two_bronze_runs_at_once_write_each_change_once(running_stack) -> None:
    """Two `sandbox run bronze` at once on the same raw files (a second terminal, an
    Airflow task): the per-task lock makes the second wait, so no change is applied
    twice and bronze still equals the source (issue #30's duplicate bronze rows)."""
    with fresh_source(running_stack) as settings:
        DmsTask(settings).run()
        simulate(settings, 300, 17)
        DmsTask(settings).run()
        env = {
            **os.environ,
            **settings.as_env(),
            "SANDBOX_LAKE_BUCKET": settings.lake_bucket,
            "SANDBOX_FIREHOSE__PREFIX": settings.firehose.prefix,
            "SANDBOX_FIREHOSE__ERROR_PREFIX": settings.firehose.error_prefix,
        }
        sandbox = str(Path(sys.executable).parent / "sandbox")
        command = [sandbox, "run", "bronze"]
        pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        runs = [subprocess.Popen(command, env=env, **pipe) for _ in range(2)]
        outputs = [run.communicate(timeout=600)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert any("bronze: waiting for pid" in out for out in outputs), outputs
        spark = spark_session(settings)
        for table in ("players", "matches", "match_players", "payments"):
            assert_replica(spark, settings, table)
