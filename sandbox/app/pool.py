"""Application traffic from several connections at once, as a backend's pool sends it.

One :class:`~sandbox.app.simulator.Simulator` per connection, each in its own thread
(psycopg waits on the server without the GIL), each seeded from ``seed`` and its index.
Their events go out in batches of up to ``BATCH`` (one SNS ``PublishBatch``-like call
each, so one durable write of the Firehose spool per batch instead of per event), after
the commits that made them. The transactions interleave on the server as a real
application's do, so CDC sees concurrent commits; conflicts between them (a deadlock, a
row another connection deleted) are rolled back and retried. The order of the
transactions is not reproducible across runs; with ``connections=1`` it is, as with one
Simulator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import errors

from sandbox.app.simulator import Event, SimulationReport, Simulator

# What one connection's transaction may meet because of another's.
CONFLICTS: tuple[type[Exception], ...] = (
    errors.DeadlockDetected,
    errors.SerializationFailure,
    errors.ForeignKeyViolation,  # the player it picked was deleted meanwhile
)
CONNECTIONS = 4
BATCH = 200


def simulate(
    url: str,
    *,
    changes: int,
    seed: int = 7,
    publish: Callable[[list[Event]], None] | None = None,
    connections: int = CONNECTIONS,
    progress: Callable[[SimulationReport], None] | None = None,
) -> SimulationReport:
    """Make ``changes`` row changes (at least) over ``connections`` connections to
    ``url``; the report adds up every connection's. ``publish`` gets the events in
    batches, from one thread at a time, the last batch before this returns;
    ``progress`` gets the running total."""
    if connections < 1:
        raise ValueError(f"connections must be at least 1, not {connections}")
    lock = threading.Lock()
    pending: list[Event] = []

    def flush() -> None:
        if publish is not None and pending:
            batch = pending[:]
            pending.clear()  # a publish that fails part-way is not sent a second time
            publish(batch)

    def on_event(event: Event) -> None:
        with lock:
            pending.append(event)
            if len(pending) >= BATCH:
                flush()

    conns: list[psycopg.Connection] = []
    try:
        for _ in range(connections):
            conns.append(psycopg.connect(url, autocommit=True))
        sims = [
            Simulator(conn, seed=seed * 1009 + i, on_event=on_event if publish else None)
            for i, conn in enumerate(conns)
        ]
        for sim in sims:
            sim.retry_on = CONFLICTS if connections > 1 else ()

        def total() -> SimulationReport:
            out = SimulationReport()
            for sim in sims:
                r = sim.report
                out.transactions += r.transactions
                out.changes += r.changes
                out.events += r.events
                for kind, n in list(r.by_kind.items()):
                    out.by_kind[kind] = out.by_kind.get(kind, 0) + n
            return out

        def tick(_: SimulationReport) -> None:
            if progress is not None:
                with lock:
                    progress(total())

        share = [changes // connections + (i < changes % connections) for i in range(connections)]
        with ThreadPoolExecutor(connections, thread_name_prefix="simulate") as pool:
            runs = [
                pool.submit(sim.run, changes=n, progress=tick)
                for sim, n in zip(sims, share, strict=True)
                if n
            ]
            for run in runs:
                run.result()
        return total()
    finally:
        with lock:  # what was committed is published, even when a connection failed
            flush()
        for conn in conns:
            conn.close()
