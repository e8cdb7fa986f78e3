"""Traffic from several connections at once (``sandbox.app.pool``), as the demo makes it:
every committed change reaches the replica, every event is published, and the report
adds up the connections'."""

from __future__ import annotations

import psycopg
import pytest

from sandbox.app import simulate
from sandbox.app.pool import CONFLICTS
from sandbox.app.simulator import Simulator
from sandbox.ingest.dms.task import DmsTask
from sandbox.platform.settings import Settings
from tests.ingest.dms.test_task import assert_replica

pytestmark = pytest.mark.slow


def test_concurrent_traffic_gives_an_exact_replica_and_publishes_every_event(
    source: Settings,
) -> None:
    task = DmsTask(source)
    task.run()
    published: list[list[dict]] = []
    seen: list[int] = []
    report = simulate(
        source.postgres_url(),
        changes=8000,  # enough for each connection to report progress (every 200)
        seed=5,
        publish=published.append,
        connections=4,
        progress=lambda r: seen.append(r.changes),
    )
    assert report.changes >= 8000 and sum(report.by_kind.values()) == report.transactions
    events = [e for batch in published for e in batch]
    assert len(events) == report.events > 0
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(len(batch) <= 200 for batch in published)
    assert seen == sorted(seen) and seen[-1] <= report.changes  # a running total
    # the interleaved commits, read by CDC, rebuild every table exactly
    assert task.run().changes >= report.changes
    assert_replica(source)


def test_a_conflict_is_retried_only_when_other_connections_write(source: Settings) -> None:
    """A deadlock or a vanished row is what a pool's connections do to each other: the
    transaction is rolled back and tried again. Alone, the same error is a bug, raised."""
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        sim = Simulator(conn, seed=1)
        failures = iter([psycopg.errors.DeadlockDetected("planted"), None])

        def signup(events: list) -> int:
            failure = next(failures)
            if failure is not None:
                done = conn.execute(
                    "update players set nickname = 'rolled back' where player_id = 1"
                )
                assert done.rowcount == 1
                raise failure
            return 1

        sim._signup = signup  # type: ignore[method-assign]
        sim._kinds, sim._weights = ["signup"], [1]
        with pytest.raises(psycopg.errors.DeadlockDetected):
            sim.step()
        failures = iter([psycopg.errors.DeadlockDetected("planted"), None])
        sim.retry_on = CONFLICTS
        assert sim.step() == "signup" and sim.report.transactions == 1
        rolled = conn.execute("select count(*) from players where nickname = 'rolled back'")
        assert rolled.fetchone() == (0,)
    with pytest.raises(ValueError, match="connections must be at least 1"):
        simulate(source.postgres_url(), changes=1, connections=0)
