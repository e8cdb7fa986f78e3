"""The Airflow group: `airflow up` to a ready UI (first and warm start), one full DAG run
beside the same tasks through `sandbox run`, Airflow's idle memory."""

from __future__ import annotations

import statistics
import time

import psycopg

from sandbox.bench.figures import Figure
from sandbox.bench.homes import cli_env, private_home, timed_cli, tree_memory
from sandbox.platform import EmbeddedStack, Progress


def bench_airflow(
    *, repeat: int = 3, scale: float = 0.1, progress: Progress = print
) -> list[Figure]:
    """On a running stack: start Airflow until the DAG is listed (the first start on the
    home migrates its database; the next ones find it prepared), idle PSS, one DAG run;
    then the same tasks through `sandbox run` as a user types it, and the ratio."""
    from sandbox.app import loader
    from sandbox.orchestrate.airflow import AirflowClient

    ready_s, idle_mb, run_s = [], [], []
    with private_home() as s:
        stack = EmbeddedStack(s)
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            loader.seed(conn, scale=scale, seed=42)
        client = AirflowClient(s)
        runs = max(repeat, 2)  # the first start, then at least one warm start
        for i in range(runs):
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
                f"run {i + 1}/{runs}: UI ready with the DAG {ready_s[-1]:.1f}s, "
                f"idle {idle_mb[-1]:.0f} MB PSS, DAG run {run_s[-1]:.1f}s"
            )
        plain_s = [timed_cli(["run"], cli_env(s)) for _ in range(repeat)]
        progress(f"sandbox run, the same tasks: {', '.join(f'{x:.1f}s' for x in plain_s)}")
    ratio = statistics.median(run_s) / statistics.median(plain_s)
    return [
        Figure("airflow up to UI ready, first start on a home", "s", ready_s[:1], "<= 30 s"),
        Figure("airflow up to UI ready, a home that ran it", "s", ready_s[1:], "<= 20 s"),
        Figure("airflow idle memory (PSS, all processes)", "MB", idle_mb),
        Figure(f"lakehouse_sandbox DAG run (scale {scale:g})", "s", run_s),
        Figure(f"sandbox run, the DAG's tasks (scale {scale:g})", "s", plain_s),
        Figure("DAG run / sandbox run", "x", [ratio], "<= 1.5x"),
    ]
