"""``sandbox demo``: the whole platform end to end, from stopped services to the report.

    up -> seed (first run only) -> DMS full load -> simulated traffic (database changes
    and events) -> DMS CDC -> Firehose -> bronze -> silver -> gold -> warehouse -> report

A second run skips the seed and the full load and shows the incremental path: only
the new changes and events flow through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

import psycopg

from sandbox.app import loader, simulate
from sandbox.ingest.dms import DmsTask
from sandbox.ingest.events import publisher
from sandbox.orchestrate.pipeline import Context, run_pipeline
from sandbox.platform import Settings

Step = Callable[[str], None]
T = TypeVar("T")


@dataclass
class DemoResult:
    first_run: bool
    steps: list[tuple[str, float]] = field(default_factory=list)
    seeded: dict[str, int] = field(default_factory=dict)
    changes: int = 0
    events: int = 0
    cdc_changes: int = 0
    quality: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    report: str = ""
    total_s: float = 0.0


def run_demo(
    settings: Settings,
    *,
    scale: float = 1.0,
    changes: int | None = None,
    seed: int = 42,
    as_of: date | None = None,
    step: Step = print,
    stack=None,
) -> DemoResult:
    """Run every step; ``stack`` is the profile's stack (default: the embedded one).

    A first run seeds history up to ``as_of`` (default: today), where the simulated
    traffic starts, so the report's time charts have no hole between the two.
    """
    if stack is None:
        from sandbox.platform import EmbeddedStack

        stack = EmbeddedStack(settings)
    t_start = time.perf_counter()
    result = DemoResult(first_run=False)

    def timed(name: str, fn):
        step(f"{name} ...")
        t0 = time.perf_counter()
        out = fn()
        result.steps.append((name, time.perf_counter() - t0))
        step(f"{name}: done in {result.steps[-1][1]:.1f}s")
        return out

    url = settings.postgres_url(settings.app_db)

    def prepare_database() -> int:
        """Seed a database without players; the players there were before."""
        with psycopg.connect(url, autocommit=True) as conn:
            loader.create_schema(conn, indexes=False)  # a seed builds them after its rows
            row = conn.execute("select count(*) from players").fetchone()
            if row is None:
                raise RuntimeError("select count(*) from players returned no row")
            (players,) = row
            if players == 0:
                result.first_run = True
                result.seeded = timed(
                    "seed", lambda: loader.seed(conn, scale=scale, seed=seed, as_of=as_of)
                )
            loader.create_schema(conn)  # the indexes of a database seeded before them
        return players

    # The seed needs Postgres only, ready in a fraction of a second; S3 and Spark take
    # seconds more and go on starting meanwhile.
    players = up_then(lambda ready: timed("up", lambda: stack.up(on_ready=ready)), prepare_database)
    dms = DmsTask(settings)
    full = timed("dms full load + catch-up", lambda: dms.run())
    result.cdc_changes += full.changes
    pub = publisher(settings)
    n = changes if changes is not None else max(2000, int(10_000 * scale))
    # New traffic on every run: the seed follows the database state. Several
    # connections at once, as an application's pool writes (sandbox.app.pool).
    report = timed(
        f"simulate {n} changes",
        lambda: simulate(url, changes=n, seed=seed + players, publish=pub.publish_many),
    )
    pub.close()
    result.changes, result.events = report.changes, report.events
    ctx = Context(settings, lambda m: step(f"  {m}"))
    run = timed(
        "pipeline", lambda: run_pipeline(settings, None, context=ctx, progress=ctx.progress)
    )
    for t in run.tasks:
        result.steps.append((f"  {t.name}", t.seconds))
    result.cdc_changes += run.result("ingest_dms")["changes"]
    silver = run.result("silver")
    result.quality = silver["rules"]
    result.quarantined = silver["quarantined"]
    result.report = run.result("report")
    result.total_s = time.perf_counter() - t_start
    return result


def up_then(up: Callable[[Callable[[str], None]], object], then: Callable[[], T]) -> T:
    """Run ``up(on_ready)`` and ``then()`` as soon as Postgres is ready, while the
    other services go on starting; return ``then``'s result once both are done.

    ``then`` runs after ``up`` when ``up`` never says Postgres is ready (it was already
    running, or the stack only reports when all are). An error in either is raised,
    after ``up`` has finished.
    """
    postgres_ready = threading.Event()

    def ready(name: str) -> None:
        if name == "postgres":
            postgres_ready.set()

    with ThreadPoolExecutor(1, thread_name_prefix="up") as pool:
        started = pool.submit(up, ready)
        while not postgres_ready.wait(0.05) and not started.done():
            pass
        if started.done():
            started.result()  # raises what stopped it
        out = then()
        started.result()
    return out
