"""Airflow as one supervised service: migrate, then API server, scheduler, DAG processor.

``airflow standalone`` would do the same but starts the scheduler's log server on every
interface and a triggerer this DAG never needs; here each component is a child of this
process (one process group, stopped together by pid) and the first to exit stops the rest.

    python -m sandbox.orchestrate.airflow.runner   # in the environment of airflow_env()
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sandbox.platform.services.airflow_server import airflow_bin

COMPONENTS = {
    "api-server": ["api-server"],
    # The log server is for remote workers; with LocalExecutor the logs are local files.
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}


def main() -> int:
    airflow = str(airflow_bin())
    print("airflow: migrating the metadata database", flush=True)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    # The DAG's Spark tasks share one Spark: its pool, one slot.
    subprocess.run(
        [airflow, "pools", "set", "spark", "1", "the Spark jobs, one at a time"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
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
