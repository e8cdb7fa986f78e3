"""The AWS group: the local endpoint's start and idle memory, and the course case's runs."""

from __future__ import annotations

import statistics
import time

import psycopg

from sandbox.bench.figures import Figure
from sandbox.bench.homes import cli_env, private_home, timed_cli, tree_memory
from sandbox.platform import EmbeddedStack, Progress


def bench_aws(*, repeat: int = 3, scale: float = 0.1, progress: Progress = print) -> list[Figure]:
    """``sandbox aws up`` on a running stack, then ``dbt_build`` and ``lake_pipeline``;
    then the pipeline's tasks through ``sandbox run``, and the ratio of the pipeline
    without its nested dbt build (the median ``dbt_build``) to that run."""
    from sandbox.app import loader
    from sandbox.orchestrate import run_pipeline
    from sandbox.orchestrate.aws import executions
    from sandbox.orchestrate.aws.deploy import deploy

    start_s: list[float] = []
    idle_mb: list[float] = []
    dbt_s: list[float] = []
    pipeline_s: list[float] = []
    with private_home() as s:
        stack = EmbeddedStack(s)
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            loader.seed(conn, scale=scale, seed=42)
        run_pipeline(s, None)  # dbt_build builds on the gold tables of the warehouse
        for i in range(repeat):
            t0 = time.perf_counter()
            stack.start_optional("aws")
            deploy(s)
            start_s.append(time.perf_counter() - t0)
            time.sleep(3)
            proc = stack.supervisor.process("aws")
            idle_mb.append(tree_memory(proc) / 1e6 if proc else 0.0)
            for name, samples in (("dbt_build", dbt_s), ("lake_pipeline", pipeline_s)):
                result = executions.wait(s, executions.start(s, name), timeout_s=1800)
                if result.status != "SUCCEEDED":
                    raise RuntimeError(
                        f"bench: {name} {result.status}: {result.error} "
                        f"{result.cause} {result.failures}"
                    )
                samples.append(result.seconds)
            stack._stop(stack.service("aws"))
            progress(
                f"run {i + 1}/{repeat}: endpoint up + deploy {start_s[-1]:.1f}s, "
                f"idle {idle_mb[-1]:.0f} MB, dbt_build {dbt_s[-1]:.1f}s, "
                f"lake_pipeline {pipeline_s[-1]:.1f}s"
            )
        plain_s = [timed_cli(["run"], cli_env(s)) for _ in range(repeat)]
        progress(f"sandbox run, the same tasks: {', '.join(f'{x:.1f}s' for x in plain_s)}")
    lake = statistics.median(pipeline_s) - statistics.median(dbt_s)
    return [
        Figure("aws endpoint up + deploy", "s", start_s),
        Figure("aws endpoint idle memory", "MB", idle_mb),
        Figure("dbt_build execution (ECS task)", "s", dbt_s),
        Figure(f"lake_pipeline execution (scale {scale:g})", "s", pipeline_s),
        Figure(f"sandbox run, the pipeline's tasks (scale {scale:g})", "s", plain_s),
        Figure(
            "lake_pipeline without dbt / sandbox run",
            "x",
            [lake / statistics.median(plain_s)],
            "<= 1.5x",
        ),
    ]
