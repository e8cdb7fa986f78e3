"""The source database crashes under load while DMS follows it: nothing lost.

As a user would try it: pgbench (4 clients) writes to the ``app`` database while
``sandbox ingest dms --follow`` runs; at random points the postmaster is SIGKILLed
(sometimes the follower with it) and brought back with ``sandbox up``; a last
``sandbox ingest dms`` runs at the end. Then the DMS replay of raw and bronze are
compared with the source, row for row, through ``tests/oracle.py``.

At-least-once from a committed checkpoint is the bar, as in AWS DMS and Debezium: a
crash may repeat a change in raw, never lose one, and bronze stays exact regardless.
Before the fix this lost 1,455 to 3,399 of about 12,400 ``pgbench_history`` rows.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
import psycopg
import pytest

from sandbox.ingest.dms.control import slot_status
from sandbox.ingest.dms.pgoutput import lsn_to_int as lsn_int
from sandbox.ingest.dms.replay import raw_table_files, replay
from sandbox.ingest.dms.task import DmsTask
from sandbox.jobs.bronze import run_bronze
from sandbox.jobs.layers import bronze_path
from sandbox.platform.services.postgres import postgres_bin_dir
from sandbox.platform.services.s3 import read_parquet_objects, s3_client
from sandbox.platform.session import spark_session
from sandbox.platform.settings import Settings
from sandbox.platform.stack import EmbeddedStack
from tests.conftest import fresh_source
from tests.oracle import bronze_table_rows, canon, canon_rows, source_select

pytestmark = [pytest.mark.slow, pytest.mark.matrix]

KEYED = {
    "pgbench_accounts": ["aid"],
    "pgbench_branches": ["bid"],
    "pgbench_tellers": ["tid"],
}


def _pgbench(settings: Settings, *args: str, **kwargs) -> subprocess.Popen:
    bindir = postgres_bin_dir(settings.postgres_version)
    env = os.environ | {"PGPASSWORD": settings.postgres_password.get_secret_value()}
    pg = ["-h", settings.host, "-p", str(settings.postgres_port), "-U", settings.postgres_user]
    argv = [str(bindir / "pgbench"), *args, *pg, settings.app_db]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return subprocess.Popen(argv, env=env, **quiet, **kwargs)


def _cli(settings: Settings, *args: str) -> list[str]:
    return [sys.executable, "-m", "sandbox", *args]


def _env(settings: Settings) -> dict[str, str]:
    return os.environ | settings.as_env() | {"SANDBOX_DMS__CDC_MAX_BATCH_INTERVAL_S": "0.3"}


def _confirmed(settings: Settings) -> int:
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        return lsn_int(slot_status(conn, settings.dms.slot_name).confirmed_flush_lsn)


def _wait_for_a_batch(settings: Settings, follow: subprocess.Popen, timeout: float = 60) -> None:
    start = _confirmed(settings)
    deadline = time.monotonic() + timeout
    while _confirmed(settings) == start:
        assert follow.poll() is None, "the follower exited"
        assert time.monotonic() < deadline, "the follower acknowledged no batch"
        time.sleep(0.05)


def _history(rows: list[dict]) -> Counter:
    columns = ("tid", "bid", "aid", "delta", "mtime")
    return Counter(tuple(canon(r[c]) for c in columns) for r in rows)


def test_postmaster_sigkills_under_pgbench_load_lose_no_change(
    running_stack: EmbeddedStack,
) -> None:
    with fresh_source(running_stack, seed=False) as settings:
        assert _pgbench(settings, "-i", "-q", "-s", "1").wait() == 0
        DmsTask(settings).run()  # full load
        rng = random.Random(27)
        env = _env(settings)
        follow: subprocess.Popen | None = None
        crashes = both = 0
        for _ in range(4):
            if follow is None or follow.poll() is not None:
                argv = _cli(settings, "ingest", "dms", "--follow")
                quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
                follow = subprocess.Popen(argv, env=env, **quiet)
            # -n: no vacuum, so no TRUNCATE of the history (DMS does not replicate one)
            load = _pgbench(settings, "-n", "-c", "4", "-j", "2", "-T", "8")
            # The crash lands while CDC is in its stride: once the follower has
            # acknowledged a batch of this round, at a random point after it.
            _wait_for_a_batch(settings, follow)
            time.sleep(rng.uniform(0.2, 3.0))
            postmaster = running_stack.supervisor.process("postgres")
            postmaster.send_signal(signal.SIGKILL)
            crashes += 1
            if rng.random() < 0.5:  # the ingest dies with the source now and then
                follow.send_signal(signal.SIGKILL)
                both += 1
            psutil.wait_procs([postmaster], timeout=10)
            load.wait(timeout=30)  # its clients lost the server
            up = subprocess.run(_cli(settings, "up"), env=env, capture_output=True, text=True)
            assert up.returncode == 0, up.stderr
            assert "postgres: restarting after a crash" in up.stdout
        assert _pgbench(settings, "-n", "-c", "4", "-j", "2", "-T", "2").wait() == 0
        time.sleep(2)
        if follow.poll() is None:
            follow.send_signal(signal.SIGINT)
        follow.wait(timeout=30)
        done = subprocess.run(
            _cli(settings, "ingest", "dms"), env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert crashes >= 3 and both >= 1

        # The DMS replay of raw, then bronze, against the source.
        s3 = s3_client(settings)

        def raw(table: str) -> list:
            keys = raw_table_files(s3, settings.raw_bucket, settings.dms, "public", table)
            return read_parquet_objects(s3, settings.raw_bucket, keys)

        source = source_select(
            settings, "select row_number() over () as n, * from pgbench_history", ["n"]
        )
        history = _history(list(source.values()))
        in_raw = _history([r for t in raw("pgbench_history") for r in t.to_pylist()])
        missing = sum((history - in_raw).values())
        assert missing == 0, f"{missing} of {sum(history.values())} history rows missing"
        assert in_raw == history, "no history row twice in raw"
        spark = spark_session(settings)
        run_bronze(spark, settings)
        for table, key in KEYED.items():
            expected = source_select(settings, f"select * from {table}", key)
            assert canon_rows(replay(raw(table), key, settings.dms)) == expected, table
            assert bronze_table_rows(spark, bronze_path(settings, "public", table), key) == (
                expected
            ), table
        rows = spark.read.format("delta").load(bronze_path(settings, "public", "pgbench_history"))
        assert _history([r.asDict() for r in rows.collect()]) == history
        print(f"{crashes} crashes ({both} with the ingest), {sum(history.values())} transactions")
