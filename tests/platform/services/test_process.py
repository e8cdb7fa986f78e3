"""The supervisor on plain processes: records, stop escalation, group kill, pid reuse."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import psutil

from sandbox.platform.services.process import Supervisor, live_process

# A parent that ignores SIGTERM and forks a child that also ignores it.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _supervisor(tmp_path: Path) -> Supervisor:
    return Supervisor(tmp_path / "run", tmp_path / "logs")


def test_spawn_records_pid_and_logs(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path)
    rec = sup.spawn(
        "echo", [sys.executable, "-c", "print('hello from child'); import time; time.sleep(30)"]
    )
    try:
        assert sup.process("echo") is not None
        assert json.loads(sup.record_path("echo").read_text())["pid"] == rec.pid
        deadline = time.monotonic() + 10
        while "hello from child" not in "\n".join(sup.log_tail("echo")):
            assert time.monotonic() < deadline, sup.log_tail("echo")
            time.sleep(0.05)
    finally:
        assert sup.stop("echo", timeout=5)
    assert sup.record("echo") is None
    assert sup.process("echo") is None


def test_stop_escalates_and_kills_the_whole_group(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path)
    rec = sup.spawn("stubborn", [sys.executable, "-c", STUBBORN])
    deadline = time.monotonic() + 10
    while not any(line.strip().isdigit() for line in sup.log_tail("stubborn")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child_pid = int(next(li for li in sup.log_tail("stubborn") if li.strip().isdigit()))
    t0 = time.monotonic()
    assert sup.stop("stubborn", sig=signal.SIGTERM, timeout=0.5)
    assert time.monotonic() - t0 < 5
    for pid in (rec.pid, child_pid):
        assert not _alive(pid), f"pid {pid} survived stop"


def test_a_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path)
    me = psutil.Process()
    assert live_process(me.pid, me.create_time()) is not None
    assert live_process(me.pid, me.create_time() - 100) is None
    # A record pointing at a live but different process must not be stopped.
    sup.run_dir.mkdir(parents=True)
    sup.record_path("ghost").write_text(
        json.dumps(dict(name="ghost", pid=me.pid, create_time=1.0, started_at=1.0, argv=[], log=""))
    )
    assert sup.process("ghost") is None
    assert sup.stop("ghost") is False
    assert me.is_running()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_after_the_leader_was_killed_ends_what_it_forked(tmp_path: Path) -> None:
    # kill -9 of a service's leader (Airflow's runner, say) leaves its children holding
    # ports; the next stop (and so `up`, `down`) ends them too.
    sup = _supervisor(tmp_path)
    rec = sup.spawn("stubborn", [sys.executable, "-c", STUBBORN])
    deadline = time.monotonic() + 10
    while not [x for x in sup.log_tail("stubborn") if x.strip().isdigit()]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (pid,) = [x for x in sup.log_tail("stubborn") if x.strip().isdigit()]
    child = psutil.Process(int(pid))
    leader = psutil.Process(rec.pid)
    leader.kill()
    leader.wait(timeout=5)  # reaped: the leader is gone, its child is not
    assert sup.process("stubborn") is None and child.is_running()
    sup.stop("stubborn")
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert sup.record("stubborn") is None


def test_a_wall_clock_step_does_not_make_a_live_service_look_dead(
    tmp_path: Path, monkeypatch
) -> None:
    """psutil's create_time is boot ticks plus the boot time as the wall clock now
    says: a laptop resuming or NTP stepping the clock moves it. The identity does not."""
    import pytest

    from sandbox.platform.services.process import process_identity

    if process_identity(1) is None:
        pytest.skip("needs Linux's /proc (elsewhere create_time is recorded, not derived)")
    sup = _supervisor(tmp_path)
    rec = sup.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert rec.identity and sup.process("sleeper") is not None
        real = psutil.Process.create_time
        # the clock stepped an hour forward after the start (the machine's, faked here)
        monkeypatch.setattr(psutil.Process, "create_time", lambda self: real(self) + 3600.0)
        assert sup.process("sleeper") is not None, "a live service must not look failed"
        # the same pid under another identity (recycled, or after a reboot) is not ours
        assert live_process(rec.pid, rec.create_time, identity="another-boot:1") is None
        monkeypatch.undo()
        # a record written before identities existed still matches by create_time
        assert live_process(rec.pid, rec.create_time) is not None
    finally:
        assert sup.stop("sleeper", timeout=5)
