"""The DMS group: CDC throughput and commit-to-object latency."""

from __future__ import annotations

import time
from typing import Any

from sandbox.bench.figures import Figure, percentile
from sandbox.bench.homes import private_home
from sandbox.platform import EmbeddedStack, Progress


def bench_dms(
    *, repeat: int = 3, changes: int = 30_000, follow_s: float = 20.0, progress: Progress = print
) -> list[Figure]:
    """CDC throughput (changes/s) and commit-to-object latency in follow mode."""
    import threading

    import psycopg

    from sandbox.app import Simulator, loader
    from sandbox.ingest.dms import DmsTask

    with private_home() as s:
        stack = EmbeddedStack(s)
        throughput: list[float] = []
        p50: list[float] = []
        p95: list[float] = []
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            loader.seed(conn, scale=1, seed=42)
            task = DmsTask(s)
            task.run()
            sim = Simulator(conn, seed=1)
            for i in range(repeat):
                sim.run(changes=changes)
                t0 = time.perf_counter()
                report = task.run()
                throughput.append(report.changes / (time.perf_counter() - t0))
                progress(
                    f"cdc run {i + 1}/{repeat}: {report.changes} changes, "
                    f"{throughput[-1]:,.0f} changes/s"
                )
            for i in range(repeat):
                stop = threading.Event()
                result: dict[str, Any] = {}

                def follow(out: dict = result, done: threading.Event = stop) -> None:
                    out["report"] = DmsTask(s).follow(should_stop=done.is_set)

                worker = threading.Thread(target=follow)
                worker.start()
                time.sleep(1.0)
                sim.run(duration_s=follow_s, rate_tps=50)
                time.sleep(2 * s.dms.cdc_max_batch_interval_s)
                stop.set()
                worker.join()
                lat = result["report"].latencies_s
                p50.append(percentile(lat, 0.5))
                p95.append(percentile(lat, 0.95))
                progress(
                    f"follow run {i + 1}/{repeat}: {len(lat)} commits, "
                    f"p50 {p50[-1]:.2f}s, p95 {p95[-1]:.2f}s"
                )
    interval = s.dms.cdc_max_batch_interval_s
    return [
        Figure("dms cdc throughput", "changes/s", throughput, ">= 20,000 changes/s"),
        Figure(f"dms follow latency p50 (flush {interval:g}s)", "s", p50),
        Figure(f"dms follow latency p95 (flush {interval:g}s)", "s", p95, "< 2 s"),
    ]
