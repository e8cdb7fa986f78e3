"""Children of the AWS endpoint die with it, and only with it (issue #30, item 2).

The endpoint starts ECS containers, EMR drivers and Lambda invocations from request
threads that end at once; ``PR_SET_PDEATHSIG`` would kill those children when the thread
ends. These tests start the child the same way, from a thread that exits, in a real
parent process, then kill the parent with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sandbox.platform.tether import tethered

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX's")

PARENT = textwrap.dedent(
    """
    import subprocess, sys, threading, time
    from sandbox.platform.tether import tethered

    def start():  # a request thread: starts the child, answers, ends
        argv, fds = tethered([sys.executable, "-c", "import time; time.sleep(300)"])
        child = subprocess.Popen(argv, pass_fds=fds, start_new_session=True)
        print(child.pid, flush=True)

    t = threading.Thread(target=start)
    t.start()
    t.join()
    time.sleep(300)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too: it only waits for its parent to read its status
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _wait_dead(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_child_outlives_its_thread_and_dies_with_its_process() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        launcher = int(parent.stdout.readline())
        time.sleep(1.0)  # the starting thread has long ended
        assert _alive(launcher), "the child died with the thread that started it"
        group = os.getpgid(launcher)
        members = [p for p in map(int, _group_members(group)) if p != launcher]
        assert members, "the command runs under the launcher, in its session"
        parent.send_signal(signal.SIGKILL)  # no cleanup runs in the parent
        parent.wait()
        assert _wait_dead(launcher, 10), "the launcher outlived its starter"
        assert all(_wait_dead(p, 10) for p in members), "the command outlived its starter"
    finally:
        parent.kill()


def _group_members(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True)
    return [pid for pid, g in (line.split() for line in out.stdout.splitlines()) if int(g) == pgid]


def test_the_launcher_exits_as_its_command_does() -> None:
    argv, fds = tethered([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert subprocess.run(argv, pass_fds=fds, start_new_session=True).returncode == 3


def test_a_group_signal_reaches_the_command_and_its_status_comes_back() -> None:
    """StopTask's SIGTERM goes to the group: the command dies of it, the launcher reports
    it (ECS shows 128 + 15) instead of dying first with a status of its own."""
    code = "import time; print('up', flush=True); time.sleep(60)"
    argv, fds = tethered([sys.executable, "-c", code])
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, text=True, pass_fds=fds, start_new_session=True
    )
    assert proc.stdout.readline().strip() == "up"
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM


def test_a_command_that_cannot_start_is_named() -> None:
    argv, fds = tethered(["/nonexistent/dbt", "build"])
    done = subprocess.run(
        argv, capture_output=True, text=True, pass_fds=fds, start_new_session=True
    )
    assert done.returncode == 127 and "/nonexistent/dbt" in done.stderr
