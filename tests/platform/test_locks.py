"""One writer per pipeline task on a home: the lock, between real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.platform.locks import TaskLocked, task_lock

HOLDER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from sandbox.platform.locks import task_lock\n"
    "with task_lock(Path(sys.argv[1]), 'bronze', wait_s=0):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(float(sys.argv[2]))\n"
    "    Path(sys.argv[1], 'released').touch()  # the last thing done under the lock\n"
)


def _holder(home: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 30)
    try:
        said: list[str] = []
        refused = pytest.raises(TaskLocked, match=rf"bronze: pid {proc.pid} has been writing")
        with refused, task_lock(tmp_path, "bronze", wait_s=0.5, progress=said.append):
            pass
        assert said == [f"bronze: waiting for pid {proc.pid}, which is writing it"]
        with task_lock(tmp_path, "silver", wait_s=0):  # another task is another lock
            pass
    finally:
        proc.kill()
        proc.wait()


def test_a_writer_waits_for_the_holder_then_writes(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 1.0)
    try:
        with task_lock(tmp_path, "bronze", wait_s=30):
            assert (tmp_path / "released").exists(), "the lock was taken while it was held"
    finally:
        proc.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 30)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with task_lock(tmp_path, "bronze", wait_s=5):  # TaskLocked if the lock outlived it
        pass


def test_up_and_down_wait_for_each_other_on_one_home(tmp_path: Path, monkeypatch) -> None:
    """Two `up`s (or an `up` and a `down`) on one home used to share a temp file and
    start services twice: the stack lock makes the second wait for the first."""
    import threading

    from sandbox.platform import stack as stack_module
    from sandbox.platform.locks import TaskLocked, task_lock
    from sandbox.platform.settings import Settings
    from sandbox.platform.stack import EmbeddedStack

    settings = Settings(_env_file=None, home=tmp_path / "home")
    stack = EmbeddedStack(settings)
    said: list[str] = []
    with task_lock(settings.runtime_dir, "stack", wait_s=0):  # another `up`, in progress
        done = threading.Event()
        worker = threading.Thread(target=lambda: (stack.down(said.append), done.set()))
        worker.start()
        assert not done.wait(0.6), "down ran beside an up in progress"
        assert any("waiting for pid" in m for m in said), said
    assert done.wait(10), "down went on once the up ended"
    worker.join()
    monkeypatch.setattr(stack_module, "STACK_LOCK_WAIT_S", 0.3)
    with task_lock(settings.runtime_dir, "stack", wait_s=0), pytest.raises(TaskLocked) as caught:
        stack.down()
    assert "stack" in str(caught.value) and f"pid {os.getpid()}" in str(caught.value)
