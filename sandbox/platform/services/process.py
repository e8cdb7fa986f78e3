"""Start, find and stop the processes the sandbox owns, by pid.

Each started process gets a record in ``<run_dir>/<name>.json`` with its pid and its
identity (:func:`process_identity`: the boot and the kernel's start time in clock
ticks), so a recycled pid is never mistaken for ours, and a wall-clock step (a laptop
resuming, NTP) never makes a live service look dead. A record whose process
is gone means the service died without ``down``: that is how ``status`` reports
``failed``. ``down`` removes the record after the process group is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from sandbox.platform.private import private_dir


@dataclass(frozen=True)
class ProcessRecord:
    """What ``spawn`` remembers about a process so a later CLI call can find it."""

    name: str
    pid: int
    create_time: float
    started_at: float
    argv: list[str]
    log: str
    identity: str = ""  # process_identity(pid) at spawn; records written before: ""


class Supervisor:
    """Owns the pid records and log files of one sandbox home."""

    def __init__(self, run_dir: Path, logs_dir: Path) -> None:
        self.run_dir = run_dir
        self.logs_dir = logs_dir

    def record_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def record(self, name: str) -> ProcessRecord | None:
        path = self.record_path(name)
        try:
            return ProcessRecord(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def process(self, name: str) -> psutil.Process | None:
        """The live process recorded under ``name``, or None if it is not running."""
        rec = self.record(name)
        if rec is None:
            return None
        return live_process(rec.pid, rec.create_time, rec.identity)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> ProcessRecord:
        """Start ``argv`` detached in its own session, logging to ``logs/<name>.log``.

        The child leads a new process group, so ``stop`` can end it together with
        every process it forked.
        """
        # the home and its pid records and logs: this user's only (700); a home that is
        # the user's own home folder (SANDBOX_HOME=~) is left as it is
        if self.run_dir.parent.resolve() != Path.home().resolve():
            private_dir(self.run_dir.parent)
        private_dir(self.run_dir)
        private_dir(self.logs_dir)
        log = self.log_path(name)
        # created 600: a log may quote a connection string
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # a log from before is made private too
        with os.fdopen(fd, "ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} start {argv[0]}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
                **as_user(user),
            )
        rec = ProcessRecord(
            name=name,
            pid=proc.pid,
            create_time=psutil.Process(proc.pid).create_time(),
            started_at=time.time(),
            argv=list(argv),
            log=str(log),
            identity=process_identity(proc.pid) or "",
        )
        tmp = self.record_path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(rec)))
        tmp.replace(self.record_path(name))
        # The Popen object is dropped on purpose: the process outlives this CLI call.
        return rec

    def stop(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 8.0) -> bool:
        """Stop the recorded process: ``sig`` first, SIGKILL to its group after ``timeout``.

        Returns True if a live process was stopped. The record is removed either way.
        """
        rec = self.record(name)
        if rec is None:
            return False
        proc = live_process(rec.pid, rec.create_time, rec.identity)
        stopped = False
        if proc is not None:
            group = _group_members(proc)
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
            if not wait_gone([proc], timeout=timeout):
                _kill_group(rec.pid)
            # Stragglers of the group (children that outlived the leader) go too.
            leftovers = [p for p in group if _alive(p)]
            for p in leftovers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            wait_gone([proc, *leftovers], timeout=5)
            stopped = True
        else:
            # The leader died (a crash, kill -9): what it forked may still hold its ports.
            orphans = _orphans(rec.pid, rec.create_time)
            for p in orphans:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            wait_gone(orphans, timeout=5)
        self.record_path(name).unlink(missing_ok=True)
        return stopped

    def forget(self, name: str) -> None:
        """Drop the record of a process that is known to be dead."""
        self.record_path(name).unlink(missing_ok=True)

    def log_tail(self, name: str, lines: int = 20) -> list[str]:
        path = self.log_path(name)
        if not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
        return text.splitlines()[-lines:]


def as_user(user: str | None) -> dict:
    """Popen arguments that drop to ``user`` with its own group and no other groups.

    Keeping root's group would put the process in the group class of root-owned
    folders (often ``---``), so a folder with o+x would still be closed to it.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def process_identity(pid: int) -> str | None:
    """Who ``pid`` is, immune to wall-clock steps: on Linux, the boot id and the
    process's start time in clock ticks since boot (``/proc/<pid>/stat``, field 22),
    neither of which moves when the clock is set. (psutil's ``create_time`` is that
    tick count added to the boot time *as the wall clock now puts it*, so it jumps with
    the clock.) Elsewhere None: there the start time is recorded once, as a timestamp,
    and ``create_time`` is stable."""
    boot = _boot_id()
    if boot is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its ")"
    fields = stat[stat.rindex(")") + 2 :].split()
    return f"{boot}:{fields[19]}"


def live_process(pid: int, create_time: float, identity: str = "") -> psutil.Process | None:
    """The process ``pid`` if it is alive and is the one recorded: the same identity
    (:func:`process_identity`) where the record has one, else created at ``create_time``."""
    try:
        proc = psutil.Process(pid)
        if identity:
            if process_identity(pid) != identity:
                return None  # the pid was recycled (or the machine rebooted)
        elif abs(proc.create_time() - create_time) > 0.05:
            return None  # the pid was recycled by another program
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def wait_gone(procs: list[psutil.Process], *, timeout: float) -> bool:
    """Wait until every process has exited; True if they all did within ``timeout``.

    A zombie counts as gone: its parent may be a CLI call that already returned,
    and how soon init reaps it is not ours to wait for.
    """
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if _alive(p)]
        if not alive:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def tree(proc: psutil.Process) -> list[psutil.Process]:
    """``proc`` and all its descendants that are still alive."""
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _group_members(proc: psutil.Process) -> list[psutil.Process]:
    members = tree(proc)
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return members
    seen = {p.pid for p in members}
    for p in psutil.process_iter():
        try:
            if p.pid not in seen and os.getpgid(p.pid) == pgid:
                members.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def _orphans(pgid: int, since: float) -> list[psutil.Process]:
    """Live members of a dead leader's process group, started after the leader was."""
    found = []
    for p in psutil.process_iter(["create_time"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["create_time"] >= since:
                found.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
