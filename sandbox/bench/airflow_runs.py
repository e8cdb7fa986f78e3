"""The Airflow group: `airflow up` to a ready UI, one full DAG run, Airflow's idle memory."""

from __future__ import annotations

import time

import psycopg

from sandbox.bench.figures import Figure
from sandbox.bench.homes import private_home, tree_memory
from sandbox.platform import EmbeddedStack, Progress


def bench_airflow(
    *, repeat: int = 3, scale: float = 0.1, progress: Progress = print
) -> list[Figure]:
    """On a running stack: start Airflow until the DAG is listed, idle PSS, one DAG run."""
    from sandbox.app import loader
    from sandbox.orchestrate.airflow import AirflowClient

    ready_s, idle_mb, run_s = [], [], []
    with private_home() as s:
        stack = EmbeddedStack(s)
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            loader.seed(conn, scale=scale, seed=42)
        client = AirflowClient(s)
        for i in range(repeat):
            t0 = time.perf_counter()
            stack.start_optional("airflow")
            client.login()
            client.wait_for_dag()
            ready_s.append(time.perf_counter() - t0)
            time.sleep(10)  # past the start-up parse: the idle footprint
            proc = stack.supervisor.process("airflow")
            idle_mb.append(tree_memory(proc, "pss") / 1e6 if proc else 0.0)
            t0 = time.perf_counter()
            run = client.wait(client.trigger(), timeout=1800)
            run_s.append(time.perf_counter() - t0)
            if run.state != "success":
                raise RuntimeError(f"bench: the DAG run ended {run.state}: {run.tasks}")
            stack._stop(stack.service("airflow"))
            progress(
                f"run {i + 1}/{repeat}: UI ready with the DAG {ready_s[-1]:.1f}s, "
                f"idle {idle_mb[-1]:.0f} MB PSS, DAG run {run_s[-1]:.1f}s"
            )
    return [
        Figure("airflow up to UI ready, DAG listed", "s", ready_s),
        Figure("airflow idle memory (PSS, all processes)", "MB", idle_mb),
        Figure(f"lakehouse_sandbox DAG run (scale {scale:g})", "s", run_s),
    ]
