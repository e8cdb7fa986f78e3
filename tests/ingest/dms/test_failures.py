"""The DMS task when things go wrong: the source crashes, the slot is lost, DDL lands
mid-stream, two writers meet. Real Postgres and S3; the source is SIGKILLed for real.

What production promises, and so what is checked here: AWS DMS and Debezium deliver at
least once from a committed checkpoint, so a crash may repeat a change but never skip
one ("AWS DMS ... uses checkpoints to resume from the last point it replicated": the
task recovery pages of the AWS DMS User Guide; Debezium's PostgreSQL connector docs,
"when things go wrong"). A slot Postgres invalidated for ``max_slot_wal_keep_size``
cannot be read again ("Replication Slots" in the PostgreSQL docs, ``wal_status``
'lost'); AWS DMS then fails the task and needs a reload ("Troubleshooting ... the
replication slot ... has been invalidated" / ``ReloadTables``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sandbox.app.simulator import Simulator
from sandbox.ingest.dms import DmsBusyError, DmsSlotLostError, DmsTask, slot_status
from sandbox.ingest.dms.control import LOCK_SPACE, TaskState, WriterLock
from sandbox.ingest.dms.replay import raw_table_files, replay
from sandbox.jobs.layers import SOURCE_KEYS
from sandbox.platform.doctor import run_checks
from sandbox.platform.services.s3 import read_parquet_objects, s3_client
from sandbox.platform.settings import Settings
from sandbox.platform.stack import EmbeddedStack
from tests.conftest import fresh_source, isolated_settings
from tests.oracle import source_rows

pytestmark = pytest.mark.slow


class Crash(Exception):
    """The source died under the task: stands for the connection error it would see."""


def kill_postgres(stack: EmbeddedStack) -> None:
    """SIGKILL the postmaster (as the OOM killer would) and wait until it is gone."""
    proc = stack.supervisor.process("postgres")
    assert proc is not None, "postgres is not running"
    proc.send_signal(signal.SIGKILL)
    psutil.wait_procs([proc], timeout=10)


def simulate(settings: Settings, changes: int, seed: int) -> None:
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        Simulator(conn, seed=seed).run(changes=changes)


def assert_replica(settings: Settings) -> None:
    s3 = s3_client(settings)
    for table, key in SOURCE_KEYS.items():
        files = raw_table_files(s3, settings.raw_bucket, settings.dms, "public", table)
        got = replay(read_parquet_objects(s3, settings.raw_bucket, files), key, settings.dms)
        assert got == source_rows(settings, table), table


def raw_keys(settings: Settings, table: str | None = None) -> list[str]:
    s3 = s3_client(settings)
    prefix = f"{settings.dms.bucket_folder}/" + (f"public/{table}/" if table else "")
    return sorted(
        o.object_name for o in s3.list_objects(settings.raw_bucket, prefix=prefix, recursive=True)
    )


def read(settings: Settings, key: str) -> pa.Table:
    body = s3_client(settings).get_object(settings.raw_bucket, key)
    return pq.read_table(io.BytesIO(body.read()))


def seqs_twice(settings: Settings) -> list[str]:
    """Change sequence values that more than one raw CDC row carries."""
    seqs: Counter = Counter()
    for key in raw_keys(settings):
        if "LOAD" not in key and key.endswith(".parquet"):
            seqs.update(read(settings, key).column("dms_change_seq").to_pylist())
    return [s for s, n in seqs.items() if n > 1]


def written_and_confirmed(settings: Settings) -> tuple[int, int]:
    from sandbox.ingest.dms.pgoutput import lsn_to_int as lsn_int

    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        written = TaskState(settings.dms.slot_name).get(conn)["written_upto"]
        confirmed = slot_status(conn, settings.dms.slot_name).confirmed_flush_lsn
    return lsn_int(written), lsn_int(confirmed)


# -- the source crashes at a chosen step of a batch -----------------------------------


def crash_at(stack: EmbeddedStack, step: str):
    def hook(name: str) -> None:
        if name == step:
            kill_postgres(stack)
            raise Crash(step)

    return hook


@pytest.mark.parametrize(
    "dms",
    [
        pytest.param({}, id="sandbox-defaults"),
        # CDC under a CdcPath with date folders, no Op on full-load rows and no
        # timestamp column: the objects a re-read batch looks for are elsewhere
        pytest.param(
            {
                "cdc_path": "cdc",
                "date_partition_enabled": True,
                "include_op_for_full_load": False,
                "timestamp_column_name": None,
            },
            id="cdcpath-datepartition",
        ),
    ],
)
def test_a_source_crash_between_upload_and_acknowledgement_redelivers_the_same_objects(
    running_stack: EmbeddedStack, dms: dict
) -> None:
    with fresh_source(running_stack, **dms) as settings:
        DmsTask(settings).run()
        simulate(settings, 400, 1)
        with pytest.raises(Crash):
            DmsTask(settings, on_step=crash_at(running_stack, "uploaded")).run()
        running_stack.up()
        before = raw_keys(settings)
        simulate(settings, 200, 2)
        DmsTask(settings).run()
        assert set(before) <= set(raw_keys(settings)), "objects are kept as first written"
        assert_replica(settings)
        assert seqs_twice(settings) == [], "the re-read batch found its own objects"


def test_a_source_crash_right_after_the_slot_advance_loses_nothing_and_says_so(
    running_stack: EmbeddedStack, caplog: pytest.LogCaptureFixture
) -> None:
    with fresh_source(running_stack) as settings:
        DmsTask(settings).run()
        # Postgres saves a slot to disk at a checkpoint, or when an advance passes a
        # running-xacts record (logged at checkpoints and every 15 s while the server
        # is busy): after a checkpoint and one batch, the next batch's advance is in
        # memory only, unless such a record falls in between (then try again).
        for attempt in range(3):
            with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
                conn.execute("checkpoint")
            simulate(settings, 300, 3 + 2 * attempt)
            DmsTask(settings).run()  # acknowledged, the slot saved with its restart point
            simulate(settings, 300, 4 + 2 * attempt)
            with pytest.raises(Crash):
                DmsTask(settings, on_step=crash_at(running_stack, "acknowledged")).run()
            running_stack.up()
            written, confirmed = written_and_confirmed(settings)
            if confirmed < written:
                break  # the slot went back, as it did when a quarter of the changes were lost
            DmsTask(settings).run()
        assert confirmed < written, "the slot was saved each time: the case was not reached"
        simulate(settings, 300, 5)
        with caplog.at_level(logging.WARNING, logger="sandbox.ingest.dms.task"):
            DmsTask(settings).run()
        assert f"re-reading {written - confirmed} bytes of WAL" in caplog.text
        assert "is behind what was already written" in caplog.text
        assert_replica(settings)
        assert seqs_twice(settings) == []


# -- a slot gone or invalidated --------------------------------------------------------


def sandbox_cli(
    settings: Settings, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        env=os.environ | settings.as_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_a_dropped_slot_stops_the_task_with_one_line_naming_reload(
    running_stack: EmbeddedStack, tmp_path: Path
) -> None:
    with fresh_source(running_stack) as settings:
        DmsTask(settings).run()
        simulate(settings, 200, 6)
        with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
            conn.execute("select pg_drop_replication_slot(%s)", (settings.dms.slot_name,))
        with pytest.raises(DmsSlotLostError, match="is gone"):
            DmsTask(settings).run()
        done = sandbox_cli(settings, "ingest", "dms", cwd=tmp_path)  # from another folder
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "sandbox ingest dms --reload" in lines[0], done.stderr
        assert "Traceback" not in done.stderr
        reloaded = sandbox_cli(settings, "ingest", "dms", "--reload", cwd=tmp_path)
        assert reloaded.returncode == 0, reloaded.stderr
        assert_replica(settings)


@pytest.mark.matrix  # 17 s; CI runs it after the default run (default run < 10 min)
def test_max_slot_wal_keep_size_invalidates_the_slot_and_doctor_shows_it() -> None:
    # A stack of its own, with the setting as a user sets it: 1 MB.
    home = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    stack = EmbeddedStack(isolated_settings(home, postgres_max_slot_wal_keep_size_mb=1))
    stack.up()
    try:
        with fresh_source(stack) as settings:
            DmsTask(settings).run()
            doctor = {c.name: c for c in run_checks(settings)}
            assert doctor["dms slot"].level == "ok", doctor["dms slot"]
            assert f"slot {settings.dms.slot_name}: holds" in doctor["dms slot"].detail
            assert "max_slot_wal_keep_size 1MB" in doctor["dms slot"].detail
            with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
                # Changes nobody reads, spread over four WAL segments, then a
                # checkpoint: Postgres removes what the slot held and invalidates it.
                for i in range(4):
                    conn.execute(f"update players set mmr = mmr + {i} where player_id = 1")
                    conn.execute("select pg_switch_wal()")
                conn.execute("checkpoint")
                assert slot_status(conn, settings.dms.slot_name).wal_status == "lost"
            with pytest.raises(DmsSlotLostError, match=r"max_slot_wal_keep_size \(1MB\)"):
                DmsTask(settings).run()
            check = {c.name: c for c in run_checks(settings)}["dms slot"]
            assert check.level == "fail"
            assert "invalidated" in check.detail and "--reload" in check.detail
            status = sandbox_cli(settings, "status", "--json")
            assert json.loads(status.stdout)["dms_slot"]["wal_status"] == "lost", status.stdout
            shown = sandbox_cli(settings, "status")
            assert "sandbox ingest dms --reload" in shown.stdout, shown.stdout
            DmsTask(settings).run(reload=True)
            assert_replica(settings)
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def test_the_server_caps_the_wal_a_slot_holds(running_stack: EmbeddedStack) -> None:
    settings = running_stack.settings
    with psycopg.connect(settings.postgres_url("postgres")) as conn:
        (keep,) = conn.execute("show max_slot_wal_keep_size").fetchone()
    assert keep == f"{settings.postgres_max_slot_wal_keep_size_mb // 1024}GB"


# -- DDL mid-stream --------------------------------------------------------------------


def test_ddl_inside_one_batch_never_wedges_the_task(
    running_stack: EmbeddedStack, caplog: pytest.LogCaptureFixture
) -> None:
    with fresh_source(running_stack, seed=False) as settings:
        with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
            for t in ("gone", "moved", "retyped"):
                conn.execute(f"create table {t} (id int primary key, v int, note text)")
                conn.execute(f"insert into {t} values (1, 1, 'a'), (2, 2, 'b')")
            # a value stored out of line (TOAST): an update that keeps it does not send it
            big = "(select string_agg(md5(i::text), '') from generate_series(1, 300) i)"
            conn.execute(f"update moved set note = {big} where id = 1")
            DmsTask(settings).run()
            # All in one batch: changes, then the DDL, then (for two) more changes.
            conn.execute("update gone set v = 10 where id = 1")
            conn.execute("insert into gone values (3, 3, 'c')")
            conn.execute("update moved set v = 20 where id = 1")  # note: TOAST, unchanged
            conn.execute("update retyped set v = 30 where id = 1")
            conn.execute("drop table gone")
            conn.execute("alter table moved rename to renamed")
            conn.execute("update renamed set v = 21 where id = 2")
            conn.execute("alter table retyped alter column v type text")
            conn.execute("update retyped set v = 'thirty' where id = 1")
        with caplog.at_level(logging.WARNING, logger="sandbox.ingest.dms"):
            report = DmsTask(settings).run()
        assert report.changes == 6
        assert DmsTask(settings).run().changes == 0, "the range was acknowledged"
        assert "public.gone was dropped" in caplog.text
        assert "public.moved is now public.renamed" in caplog.text
        assert "sandbox ingest dms --reload" in caplog.text

        # The dropped table's changes, shaped as the stream had them.
        gone = read(settings, next(k for k in raw_keys(settings, "gone") if "LOAD" not in k))
        assert gone.column("Op").to_pylist() == ["U", "I"]
        assert gone.column("v").to_pylist() == [10, 3]
        # Changes land under the name the table had when they were made; the TOAST
        # value pgoutput left out is read from the table under its new name.
        moved = read(settings, next(k for k in raw_keys(settings, "moved") if "LOAD" not in k))
        assert moved.column("v").to_pylist() == [20]
        note = source_rows(settings, "renamed")[(1,)]["note"]
        assert len(note) == 9600 and moved.column("note").to_pylist() == [note]
        assert [
            read(settings, k).column("v").to_pylist() for k in raw_keys(settings, "renamed")
        ] == [[21]]
        # One object per type of `v`, in commit order: int before, text after.
        retyped = [read(settings, k) for k in raw_keys(settings, "retyped") if "LOAD" not in k]
        assert [t.schema.field("v").type for t in retyped] == [pa.int32(), pa.string()]
        assert [t.column("v").to_pylist() for t in retyped] == [[30], ["thirty"]]
        files = read_parquet_objects(
            s3_client(settings), settings.raw_bucket, raw_keys(settings, "retyped")
        )
        rows = replay(files, ["id"], settings.dms)
        source = {k: r["v"] for k, r in source_rows(settings, "retyped").items()}
        assert {k: str(r["v"]) for k, r in rows.items()} == source == {(1,): "thirty", (2,): "2"}


# -- one writer per task ---------------------------------------------------------------


def test_a_second_writer_waits_for_the_first_or_refuses_naming_it(source: Settings) -> None:
    DmsTask(source).run()
    simulate(source, 200, 7)
    lock = WriterLock(source.dms.slot_name)
    holder = "sandbox ingest dms --follow (pid 4242)"
    with psycopg.connect(source.postgres_url(), autocommit=True, application_name=holder) as other:
        other.execute("select pg_advisory_lock(%s, %s)", (LOCK_SPACE, lock.key))
        source.dms.writer_wait_s = 0.5
        with pytest.raises(DmsBusyError, match=r"--follow \(pid 4242\).*one writer per task"):
            DmsTask(source).run()
        # With time to wait, it writes once the holder lets go, and says whom it waited for.
        source.dms.writer_wait_s = 30
        said: list[str] = []
        t = threading.Timer(1.0, other.execute, ("select pg_advisory_unlock_all()",))
        t.start()
        report = DmsTask(source).run(progress=said.append)
        t.join()
    assert any("waiting for sandbox ingest dms --follow (pid 4242" in s for s in said), said
    assert report.changes > 0
    assert_replica(source)


@pytest.mark.matrix  # 15 s; CI runs it after the default run (default run < 10 min)
def test_runs_beside_a_follower_take_turns_batch_by_batch(source: Settings) -> None:
    env = {"SANDBOX_DMS__MAX_BATCH_CHANGES": "50", "SANDBOX_DMS__CDC_MAX_BATCH_INTERVAL_S": "0.05"}
    DmsTask(source).run()
    follow = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "ingest", "dms", "--follow"],
        env=os.environ | source.as_env() | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # The source moves while both read it: without turns, two writers peek the same
    # changes, cut their batches at other places and write overlapping objects.
    writes = threading.Thread(target=lambda: [simulate(source, 400, 20 + i) for i in range(4)])
    try:
        source.dms.max_batch_changes = 30
        writes.start()
        while writes.is_alive():
            DmsTask(source).run()  # Airflow's ingest_dms while the follower runs
    finally:
        writes.join()
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=30)
    DmsTask(source).run()
    assert_replica(source)
    assert seqs_twice(source) == [], err.decode()


# -- the follower outlives the source ---------------------------------------------------


@pytest.mark.matrix  # 14 s; CI runs it after the default run
def test_the_follower_outlives_a_source_crash(running_stack: EmbeddedStack) -> None:
    # AWS DMS treats "source not available" as an environmental, recoverable error and
    # resumes the task by itself (ErrorBehavior RecoverableErrorCount -1: retry without
    # end; RecoverableErrorInterval, 5 s: "Error handling task settings" in the AWS DMS
    # User Guide, and the knowledge-center page "dms-error-handling-task-settings").
    with fresh_source(running_stack) as settings:
        DmsTask(settings).run()
        follow = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "ingest", "dms", "--follow"],
            env=os.environ | settings.as_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            before = written_and_confirmed(settings)[1]
            simulate(settings, 300, 30)
            deadline = time.monotonic() + 60
            while written_and_confirmed(settings)[1] == before:  # it replicates
                assert follow.poll() is None and time.monotonic() < deadline, "no batch"
                time.sleep(0.05)
            kill_postgres(running_stack)
            time.sleep(1.5)
            assert follow.poll() is None, "the follower died with the source"
            running_stack.up()
            simulate(settings, 300, 31)
            time.sleep(3)
        finally:
            follow.send_signal(signal.SIGINT)
            out, _ = follow.communicate(timeout=30)
        assert "lost the source database" in out, out
        assert "the source is back after" in out, out
        DmsTask(settings).run()
        assert_replica(settings)
        assert seqs_twice(settings) == []


def test_an_idle_slot_lets_go_of_wal_other_databases_write(source: Settings) -> None:
    DmsTask(source).run()
    # The warehouse shares the server and so the WAL: 20+ MB of it, no app change.
    with psycopg.connect(source.postgres_url(source.warehouse_db), autocommit=True) as conn:
        conn.execute(
            "create table wal_filler as select g, md5(g::text) from generate_series(1, 300000) g"
        )
        conn.execute("drop table wal_filler")
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        held = slot_status(conn, source.dms.slot_name).retained_bytes
        assert held > 16 * 1024 * 1024
        DmsTask(source).run()  # moves the slot past it
        # Postgres moves the restart point when an advance passes a running-xacts
        # record (logged at checkpoints and every 15 s): the next run, as a follower's
        # next poll would.
        conn.execute("checkpoint")
        DmsTask(source).run()
        after = slot_status(conn, source.dms.slot_name).retained_bytes
    assert after < held / 2, (held, after)
    simulate(source, 200, 40)
    DmsTask(source).run()
    assert_replica(source)
