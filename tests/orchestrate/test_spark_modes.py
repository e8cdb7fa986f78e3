"""Sail's cluster runner gives the same lake as its local runner (issue #35).

``SANDBOX_SPARK_MODE=local-cluster`` runs the jobs on Sail's driver and workers (tasks
and shuffles over RPC between them, in one process). The demo runs in that mode; then
the same home switches to the default ``local`` mode (``up`` restarts Spark alone) and
rebuilds silver and gold from the same bronze. Every silver table and gold mart must
hold the same rows: the simulated traffic is stamped with the clock, so two demos are
compared on one home's data, not two homes'.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.platform.settings import Settings
from tests.cli.conftest import ENTRY_POINT, private_env
from tests.oracle import lake_snapshot

pytestmark = pytest.mark.slow


def _sandbox(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(ENTRY_POINT), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"sandbox {' '.join(args)}: {done.stderr}"
    return done.stdout


def _settings(env: dict[str, str]) -> Settings:
    fields = {
        k.removeprefix("SANDBOX_").lower(): v for k, v in env.items() if k.startswith("SANDBOX_")
    }
    return Settings(_env_file=None, **fields)


@pytest.mark.matrix  # about 90 s: a demo on the cluster runner, a rebuild on the local one
@pytest.mark.skipif(sys.platform != "linux", reason="reads the Sail process's listeners")
def test_the_cluster_runner_builds_the_same_silver_and_gold(tmp_path: Path) -> None:
    cluster = private_env(tmp_path / "home") | {
        "SANDBOX_SPARK_MODE": "local-cluster",
        "SANDBOX_SPARK_WORKERS": "3",
        "SANDBOX_SPARK_TASK_SLOTS": "4",
        # Sail's info lines say where each worker listened (a quiet in-process Sail
        # earlier in this test process may have left RUST_LOG=error behind)
        "RUST_LOG": "info",
    }
    try:
        _sandbox(cluster, "demo", "--scale", "0.1")
        spark = _spark_row(cluster)
        assert spark["detail"] == "local-cluster: 3 workers x 4 task slots"
        assert all(host == "127.0.0.1" for host, _ in _listening(spark["pid"]))
        # each session gets its own driver and workers, gone when it ends: Sail's log
        # says where they listened
        log = (tmp_path / "home" / "logs" / "spark.log").read_text()
        workers = re.findall(r"worker \d+ is available at ([\d.]+):\d+", log)
        assert len(workers) >= 3 and set(workers) == {"127.0.0.1"}, workers
        on_cluster = lake_snapshot(_settings(cluster))

        local = cluster | {"SANDBOX_SPARK_MODE": "local"}
        _sandbox(local, "up")  # restarts Spark alone, in local mode
        assert _spark_row(local)["detail"] == "local"
        _sandbox(local, "run", "silver", "gold", "--force")
        on_local = lake_snapshot(_settings(local))
    finally:
        subprocess.run([str(ENTRY_POINT), "down"], env=cluster, capture_output=True, timeout=120)
    assert on_cluster.keys() == on_local.keys()
    for name in on_cluster:
        assert on_cluster[name] == on_local[name], name
    assert sum(len(rows) for rows in on_cluster.values()) > 1000


def _spark_row(env: dict[str, str]) -> dict:
    services = json.loads(_sandbox(env, "status", "--json"))["services"]
    return next(s for s in services if s["name"] == "spark")


def _listening(pid: int) -> list[tuple[str, int]]:
    import psutil

    conns = psutil.Process(pid).net_connections(kind="tcp")
    return [(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
