"""One writer per pipeline task on a home: an exclusive ``flock`` per task name.

Two ``sandbox run``s, ``--watch`` and an Airflow task on the same home would otherwise
write the same tables at once (two bronze runs append the same raw files twice). Each
task takes ``<home>/locks/<task>.lock`` for its run; a second writer waits for it,
saying whom it waits for, and gives up after ``task_lock_wait_s`` with an error naming
the holder. The kernel drops a ``flock`` when its holder dies, SIGKILL included, so a
crashed run never leaves a stale lock. Readers (gold reading silver) need no lock:
Delta readers see a committed version.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.platform.errors import SandboxError
from sandbox.platform.progress import Progress, quiet


class TaskLocked(SandboxError):
    """Another process held the task's lock for longer than the wait allowed."""


def lock_path(runtime_dir: Path, task: str) -> Path:
    return runtime_dir / "locks" / f"{task}.lock"


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "another process"
    except OSError:
        return "another process"


@contextmanager
def task_lock(
    runtime_dir: Path, task: str, *, wait_s: float, progress: Progress = quiet
) -> Iterator[None]:
    """Hold ``task``'s lock for the block; wait at most ``wait_s`` seconds for it."""
    path = lock_path(runtime_dir, task)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TaskLocked(
                        f"{task}: {_holder(path)} has been writing it for more than "
                        f"{wait_s:g} s (lock {path}); wait for it to end or stop it"
                    ) from None
                if not told:
                    progress(f"{task}: waiting for {_holder(path)}, which is writing it")
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
