"""The simulator group: application traffic, row changes per second, as the demo makes it.

The demo at scale 16 seeds the app, then simulates ``10,000 x scale`` changes with the
events published to the Firehose spool; this group times that step on the same data
over one connection and over the pool's (``sandbox.app.pool``), and the whole demo at
scale 16 with its default number of changes, as a user runs it.
"""

from __future__ import annotations

import subprocess
import sys
import time

from sandbox.bench.figures import Figure
from sandbox.bench.homes import cli_env, private_home
from sandbox.platform import EmbeddedStack, Progress


def bench_simulator(
    *, repeat: int = 3, scale: float = 16, changes: int = 40_000, progress: Progress = print
) -> list[Figure]:
    """Changes/s over 1 and over ``CONNECTIONS`` connections, events on; the demo's wall."""
    import psycopg

    from sandbox.app import loader
    from sandbox.app.pool import CONNECTIONS, simulate
    from sandbox.ingest.events import publisher

    rates: dict[int, list[float]] = {1: [], CONNECTIONS: []}
    with private_home() as s:
        stack = EmbeddedStack(s)
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            loader.create_schema(conn)
            loader.seed(conn, scale=scale, seed=42)
        for i in range(repeat):
            for connections in rates:
                pub = publisher(s)
                t0 = time.perf_counter()
                report = simulate(
                    s.postgres_url(),
                    changes=changes,
                    seed=i,
                    publish=pub.publish_many,
                    connections=connections,
                )
                rates[connections].append(report.changes / (time.perf_counter() - t0))
                pub.close()
                progress(
                    f"run {i + 1}/{repeat}, {connections} connection(s): "
                    f"{rates[connections][-1]:,.0f} changes/s ({report.events} events)"
                )
        stack.down()
    walls = []
    for i in range(repeat):
        with private_home() as s:
            argv = [sys.executable, "-m", "sandbox", "demo", "--scale", f"{scale:g}"]
            t0 = time.perf_counter()
            subprocess.run(argv, env=cli_env(s), stdout=subprocess.DEVNULL, check=True)
            walls.append(time.perf_counter() - t0)
            progress(f"demo --scale {scale:g} (default changes) {i + 1}/{repeat}: {walls[-1]:.1f}s")
    return [
        Figure(f"simulator, scale {scale:g}, events on, 1 connection", "changes/s", rates[1]),
        Figure(
            f"simulator, scale {scale:g}, events on, {CONNECTIONS} connections",
            "changes/s",
            rates[CONNECTIONS],
            ">= 10,000",
        ),
        Figure(
            f"`sandbox demo --scale {scale:g}` from a fresh home, default changes",
            "s",
            walls,
            "<= 60 s",
        ),
    ]
