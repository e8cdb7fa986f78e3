"""The DMS emulator against real Postgres and S3: format, replay, crashes."""

from __future__ import annotations

import io
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sandbox.app import generator, loader
from sandbox.app.simulator import Simulator
from sandbox.ingest.dms import full_load
from sandbox.ingest.dms.control import TaskState
from sandbox.ingest.dms.errors import DmsSourceError
from sandbox.ingest.dms.full_load import copy_out
from sandbox.ingest.dms.replay import raw_table_files, replay
from sandbox.ingest.dms.task import DmsTask
from sandbox.jobs.layers import SOURCE_KEYS
from sandbox.platform.services.s3 import read_parquet_objects, s3_client
from sandbox.platform.settings import Settings
from tests.conftest import fresh_source
from tests.oracle import source_rows

pytestmark = pytest.mark.slow

KEYS = SOURCE_KEYS


def simulate(settings: Settings, changes: int, seed: int) -> None:
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        Simulator(conn, seed=seed).run(changes=changes)


def replayed(settings: Settings, table: str, key: list[str] | None = None) -> dict[tuple, dict]:
    s3 = s3_client(settings)
    keys = raw_table_files(s3, settings.raw_bucket, settings.dms, "public", table)
    files = read_parquet_objects(s3, settings.raw_bucket, keys)
    return replay(files, key or KEYS[table], settings.dms)


def raw_objects(settings: Settings) -> list[str]:
    s3 = s3_client(settings)
    return sorted(
        o.object_name
        for o in s3.list_objects(
            settings.raw_bucket, prefix=settings.dms.bucket_folder + "/", recursive=True
        )
    )


def read(settings: Settings, key: str) -> pa.Table:
    body = s3_client(settings).get_object(settings.raw_bucket, key)
    return pq.read_table(io.BytesIO(body.read()))


def assert_replica(settings: Settings) -> None:
    for table in KEYS:
        assert replayed(settings, table) == source_rows(settings, table), table


@pytest.mark.parametrize("workload_seed", [11, 12, 13])
def test_replaying_raw_files_rebuilds_every_table(source: Settings, workload_seed: int) -> None:
    rng = random.Random(workload_seed)
    task = DmsTask(source)
    # Random workloads with DMS runs in between (and sometimes several batches per run).
    for _ in range(3):
        simulate(source, rng.randint(50, 600), rng.randrange(1000))
        task.cfg.max_batch_changes = rng.choice([40, 500, 100_000])
        task.run()
        assert_replica(source)


def test_full_load_and_cdc_file_format(source: Settings) -> None:
    source.dms.max_file_size_kb = 4  # small files so the hex counter rolls
    task = DmsTask(source)
    report = task.run()
    mp_loads = [f.key for f in report.full_load_files if "/match_players/" in f.key]
    assert len(mp_loads) >= 2
    prefix = f"{source.dms.bucket_folder}/public/match_players/"
    assert mp_loads == [f"{prefix}LOAD{i:08X}.parquet" for i in range(1, len(mp_loads) + 1)]
    for key in mp_loads[:-1]:
        size = s3_client(source).stat_object(source.raw_bucket, key).size
        assert 2 * 1024 < size < 4 * 1024 * 2, "files are sized by MaxFileSize"

    load = read(source, f"{source.dms.bucket_folder}/public/payments/LOAD00000001.parquet")
    assert load.column_names[:3] == ["Op", "dms_timestamp", "dms_change_seq"]
    assert set(load.column("Op").to_pylist()) == {"I"}  # IncludeOpForFullLoad
    assert load.schema.field("amount_brl").type == pa.decimal128(12, 2)
    assert load.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert load.schema.field("subscription_id").type == pa.int64()

    simulate(source, 300, 5)
    report = task.run()
    assert report.changes > 0
    for f in report.cdc_files:
        name = f.key.rsplit("/", 1)[1]
        assert name[:8].isdigit() and name[8] == "-" and name[9:18].isdigit(), name
        t = read(source, f.key)
        assert t.column_names[0] == "Op"
        assert set(t.column("Op").to_pylist()) <= {"I", "U", "D"}
        # the timestamp column is the commit time, and files are named by the first one
        first = t.column("dms_timestamp")[0].as_py()
        assert name.startswith(first[:10].replace("-", "") + "-" + first[11:19].replace(":", ""))
    ops = Counter(
        op for f in report.cdc_files for op in read(source, f.key).column("Op").to_pylist()
    )
    assert ops["I"] and ops["U"] and ops["D"]


def test_a_full_load_copy_reads_the_snapshot_in_utc_whatever_the_environment(
    source: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    task = DmsTask(source)
    url = source.postgres_url(source.app_db)
    with psycopg.connect(url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        (snapshot,) = conn.execute("select pg_export_snapshot()").fetchone()
        plans = task.catalog.describe(conn, "plans")
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("insert into plans values ('later', 'Later', 1.00, 1, now())")
        # psql, like any libpq client, would take these from the caller's environment.
        monkeypatch.setenv("PGTZ", "Asia/Tokyo")
        monkeypatch.setenv("PGDATESTYLE", "SQL, DMY")
        monkeypatch.setenv("PGOPTIONS", "-c timezone=America/Sao_Paulo -c no_such_setting=1")
        rows = copy_out(source, snapshot, plans).decode().splitlines()
        assert len(rows) == 3, "the row inserted after the snapshot is not in it"
        assert all(r.endswith("+00") and r.split(",")[-1][4] == "-" for r in rows), rows

        with pytest.raises(DmsSourceError, match=r"public\.plans"):
            copy_out(source, "00000003-0000BAD-1", plans)  # no such snapshot
        monkeypatch.setattr(full_load, "postgres_bin_dir", lambda version: tmp_path)
        with pytest.raises(DmsSourceError, match="psql"):
            copy_out(source, snapshot, plans)
    monkeypatch.delenv("PGOPTIONS")  # this test's own connection needs a clean one
    with psycopg.connect(url) as conn:
        (pk,) = conn.execute(
            "select pg_get_constraintdef(oid) from pg_constraint "
            "where conrelid = 'match_players'::regclass and contype = 'p'"
        ).fetchone()
    assert pk == "PRIMARY KEY (match_id, player_id)", "the seed builds the key it dropped"


def test_cdc_filters_and_paths(source: Settings) -> None:
    source.dms.include_op_for_full_load = False
    source.dms.cdc_inserts_only = True
    source.dms.cdc_path = "cdc"
    source.dms.date_partition_enabled = True
    source.dms.timestamp_column_name = None
    task = DmsTask(source)
    load = task.run().full_load_files[0]
    assert "Op" not in read(source, load.key).column_names
    simulate(source, 300, 6)
    report = task.run()
    assert report.cdc_files
    for f in report.cdc_files:
        parts = f.key.split("/")
        assert parts[1] == "cdc" and len(parts) == 8, f.key  # folder/cdc/schema/table/y/m/d/f
        t = read(source, f.key)
        assert set(t.column("Op").to_pylist()) == {"I"}
        assert "dms_timestamp" not in t.column_names


def test_a_new_column_appears_in_later_files(source: Settings) -> None:
    task = DmsTask(source)
    task.run()
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        conn.execute("update players set mmr = mmr + 1 where player_id = 1")
        task.run()
        conn.execute("alter table players add column favourite_map text")
        conn.execute("update players set favourite_map = 'Frostbite' where player_id = 2")
    last = task.run().cdc_files
    assert [f for f in last if "/players/" in f.key]
    t = read(source, next(f.key for f in last if "/players/" in f.key))
    assert t.column("favourite_map").to_pylist() == ["Frostbite"]
    assert replayed(source, "players") == source_rows(source, "players")


def test_table_without_primary_key_is_replicated_insert_only_with_a_warning(
    source: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        conn.execute("create table audit_log (at timestamptz, note text)")
        conn.execute("insert into audit_log values (now(), 'x')")
        with caplog.at_level(logging.WARNING):
            DmsTask(source).run()
        assert "public.audit_log has no primary key" in caplog.text
        conn.execute("insert into audit_log values (now(), 'y')")
        # REPLICA IDENTITY FULL lets its updates and deletes through as whole rows.
        conn.execute("alter table audit_log replica identity full")
        conn.execute("update audit_log set note = 'z' where note = 'y'")
        conn.execute("delete from audit_log where note = 'x'")
        # A table created mid-stream without a key is replicated the same way.
        conn.execute("create table scratch (v int)")
        conn.execute("insert into scratch values (1)")
        DmsTask(source).run()
    files = [k for k in raw_objects(source) if "/audit_log/" in k and "LOAD" not in k]
    ops = [op for k in files for op in read(source, k).column("Op").to_pylist()]
    assert ops == ["I", "U", "D"]
    assert any("/scratch/" in k for k in raw_objects(source))


def test_unsupported_type_is_written_as_string_with_a_warning(
    source: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        conn.execute("create type mood as enum ('calm', 'tilted')")
        conn.execute("create table moods (id int primary key, m mood, tags text[])")
        conn.execute("insert into moods values (1, 'tilted', '{a,b}')")
    with caplog.at_level(logging.WARNING):
        DmsTask(source).run()
    assert "public.moods.m" in caplog.text and "public.moods.tags" in caplog.text
    t = read(source, f"{source.dms.bucket_folder}/public/moods/LOAD00000001.parquet")
    assert t.column("m").to_pylist() == ["tilted"]
    assert t.column("tags").to_pylist() == ["{a,b}"]


def _ingest_env(settings: Settings) -> dict[str, str]:
    return os.environ | settings.as_env() | {"SANDBOX_DMS__MAX_BATCH_CHANGES": "150"}


@pytest.mark.matrix  # 30 s; test_bronze_exact kills a follow under load in the default run
def test_kill_9_at_random_points_loses_and_doubles_nothing(source: Settings) -> None:
    env = _ingest_env(source)
    cmd = [sys.executable, "-m", "sandbox", "ingest", "dms"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # full load
    simulate(source, 4000, 21)
    rng = random.Random(5)
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.0))  # import + connect takes ~0.5 s, then batches
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3, "the emulator finished before it could be killed"
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert_replica(source)
    # none doubled: every change sequence number appears in exactly one raw row
    seqs = cdc_seqs(source)
    assert seqs and max(seqs.values()) == 1


def cdc_seqs(settings: Settings) -> Counter:
    """How many raw CDC rows carry each change sequence number."""
    seqs = Counter()
    for key in raw_objects(settings):
        if "LOAD" not in key:
            seqs.update(read(settings, key).column("dms_change_seq").to_pylist())
    return seqs


def _kill_while_copying(proc: subprocess.Popen, timeout: float = 60) -> bool:
    """SIGKILL ``proc`` as soon as it runs ``psql`` (a table being copied out in the full
    load's snapshot); False if it ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            children = psutil.Process(proc.pid).children()
            copying = any(c.name() == "psql" for c in children)
        except psutil.Error:
            copying = False
        if copying:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


@pytest.mark.matrix  # 25 s each
@pytest.mark.parametrize("subtasks", [2, 1])  # two tables at once, and one at a time
def test_kill_9_during_the_parallel_full_load_loads_again_and_loses_nothing(
    running_stack, tmp_path, subtasks: int
) -> None:
    # Large enough that the tables take a while to copy.
    with fresh_source(running_stack, seed=False, max_full_load_subtasks=subtasks) as source:
        with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
            loader.seed(conn, scale=0.5, seed=3, as_of=generator.SAMPLE_AS_OF)
        env = _ingest_env(source)
        cmd = [sys.executable, "-m", "sandbox", "ingest", "dms"]
        for attempt in range(3):
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            assert _kill_while_copying(proc), "the full load ended before a copy was seen"
            with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
                assert not TaskState(source.dms.slot_name).get(conn)["full_load_done"]
            simulate(source, 300, 40 + attempt)  # the source moves on between attempts
        # The next run, from another folder than the project's, loads every table again:
        # the last snapshot has every change so far, so no table has CDC files yet.
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=tmp_path)
        assert_replica(source)
        assert cdc_seqs(source) == Counter()
        # Its slot captures what comes after, each change once.
        simulate(source, 300, 50)
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=tmp_path)
        assert_replica(source)
        seqs = cdc_seqs(source)
        assert seqs and max(seqs.values()) == 1


@pytest.mark.matrix  # 10 s; CI runs it after the default run
def test_an_overlapping_full_load_still_gives_an_exact_replica(
    source: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS DMS reads each table while changes keep coming and applies the changes cached
    during the load afterwards, so CDC re-delivers what the load already holds
    (https://docs.aws.amazon.com/dms/latest/userguide/CHAP_Task.CDC.html: "cached changes"
    are applied after a table's full load). ``full_load_overlap`` reproduces that; the
    replica must be exact either way."""
    import sandbox.ingest.dms.task as task_module

    real = task_module.load_tables

    def writes_then_load(*args, **kwargs):  # changes after the slot, before the copies
        simulate(source, 400, 7)
        return real(*args, **kwargs)

    monkeypatch.setattr(task_module, "load_tables", writes_then_load)
    source.dms.full_load_overlap = True
    task = DmsTask(source)
    task.run()  # the full load, which already holds the 400 changes
    monkeypatch.setattr(task_module, "load_tables", real)
    task.run()  # CDC: the same 400 changes again
    assert_replica(source)
    # and the overlap happened: the LOAD files alone already hold the changed rows,
    # while CDC files carry those changes again (the consistent mode's LOAD would not)
    s3 = s3_client(source)
    cdc_rows = 0
    for table in KEYS:
        keys = raw_table_files(s3, source.raw_bucket, source.dms, "public", table)
        loads = [k for k in keys if "/LOAD" in k]
        files = read_parquet_objects(s3, source.raw_bucket, loads)
        assert replay(files, KEYS[table], source.dms) == source_rows(source, table), table
        cdc_rows += sum(
            t.num_rows
            for t in read_parquet_objects(
                s3, source.raw_bucket, [k for k in keys if k not in loads]
            )
        )
    assert cdc_rows >= 400
