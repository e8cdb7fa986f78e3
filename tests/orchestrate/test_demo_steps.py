"""How the demo orders its first steps: the seed starts once Postgres is ready."""

from __future__ import annotations

import threading

import pytest

from sandbox.orchestrate.demo import up_then


def test_the_database_work_runs_while_the_other_services_start() -> None:
    seeded = threading.Event()
    order: list[str] = []

    def up(on_ready) -> None:
        on_ready("postgres")
        # S3 is "still starting": it only gets ready once the seed has run beside it.
        assert seeded.wait(10), "the seed waited for every service"
        order.append("s3 ready")
        on_ready("s3")

    def seed() -> str:
        order.append("seed")
        seeded.set()
        return "seeded"

    assert up_then(up, seed) == "seeded"
    assert order == ["seed", "s3 ready"]


def test_a_stack_that_never_says_ready_gets_the_work_after_it() -> None:
    order: list[str] = []
    assert up_then(lambda on_ready: order.append("up"), lambda: order.append("seed")) is None
    assert order == ["up", "seed"]


def test_a_failed_start_runs_nothing_and_a_failed_seed_waits_for_the_start() -> None:
    def broken(on_ready) -> None:
        raise RuntimeError("port 15432 (postgres) is already in use")

    ran: list[str] = []
    with pytest.raises(RuntimeError, match="15432"):
        up_then(broken, lambda: ran.append("seed"))
    assert ran == []

    finished = threading.Event()

    def slow_up(on_ready) -> None:
        on_ready("postgres")
        finished.wait(0.3)
        finished.set()

    def failing_seed() -> None:
        raise ValueError("seed refused")

    with pytest.raises(ValueError, match="seed refused"):
        up_then(slow_up, failing_seed)
    assert finished.is_set(), "the start was waited for, not abandoned"
