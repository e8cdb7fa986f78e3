"""Airflow as one supervised service: migrate, then API server, scheduler, DAG processor.

The migration and the pool are skipped on a home whose database this Airflow has
already prepared (``database.prepared`` in ``AIRFLOW_HOME`` records the schema revision
and Airflow's distributions): a warm start goes straight to the three components.

``airflow standalone`` would do the same but starts the scheduler's log server on every
interface and a triggerer this DAG never needs; here each component is a child of this
process (one process group, stopped together by pid) and the first to exit stops the rest.

    python -m sandbox.orchestrate.airflow.runner   # in the environment of airflow_env()
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sandbox.platform.services.airflow_server import airflow_bin

COMPONENTS = {
    "api-server": ["api-server"],
    # The log server is for remote workers; with LocalExecutor the logs are local files.
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}


def _airflow_versions() -> str:
    """Airflow's distributions and their versions: a provider can bring migrations too."""
    names = {
        f"{d.metadata['Name']} {d.version}"
        for d in importlib.metadata.distributions()
        if (d.metadata["Name"] or "").lower().startswith("apache-airflow")
    }
    return ", ".join(sorted(names))


def database_stamp(home: Path) -> str | None:
    """What the metadata database was last prepared as: its schema revision (alembic's)
    and the Airflow that prepared it. None when there is no database to read."""
    db = home / "airflow.db"
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("select version_num from alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return f"schema {row[0] if row else None}; {_airflow_versions()}"


def prepare_database(airflow: str, home: Path) -> None:
    """``db migrate`` and the Spark pool, each a cold start of Airflow's CLI (seconds
    each): skipped when this Airflow already prepared this database file."""
    marker = home / "database.prepared"
    stamp = database_stamp(home)
    if stamp is not None and marker.exists() and marker.read_text() == stamp:
        print(f"airflow: metadata database ready ({stamp}), no migration", flush=True)
        return
    print("airflow: migrating the metadata database", flush=True)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    # The DAG's Spark tasks share one Spark: its pool, one slot.
    subprocess.run(
        [airflow, "pools", "set", "spark", "1", "the Spark jobs, one at a time"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    marker.write_text(database_stamp(home) or "")


def main() -> int:
    airflow = str(airflow_bin())
    prepare_database(airflow, Path(os.environ["AIRFLOW_HOME"]))
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name, args in COMPONENTS.items():
        print(f"airflow: starting {name}", flush=True)
        children[name] = subprocess.Popen([airflow, *args])
    code = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"airflow: {name} exited with code {proc.returncode}", flush=True)
                code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 20
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
