"""Children that die with the process that started them, whichever thread started them.

The local AWS endpoint starts ECS containers, EMR job drivers and Lambda invocations
from request threads that end long before the child does. Linux's ``PR_SET_PDEATHSIG``
fires when the *thread* that forked the child exits, so it would kill a container as
soon as its ``RunTask`` answered; and the process-group sweep misses children that start
sessions of their own. So each child is started through this file as a small launcher:

* the starting process holds the write end of one pipe for its whole life (never
  inherited by anyone); the launcher gets the read end;
* the launcher runs the command as its child, in the launcher's own session, and waits;
* when the starting process dies, by any signal, the kernel closes the write end, the
  launcher reads end-of-file and SIGKILLs its whole process group, command included.

Signals sent to the group (a ``StopTask``'s SIGTERM) reach the command directly; the
launcher ignores them and exits as the command did, a signal death re-raised so the
starter sees the same status. Works on every POSIX system (no ``prctl``).

Run by path (``python tether.py FD COMMAND...``) so the launcher imports nothing of the
sandbox and starts in tens of milliseconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

__all__ = ["tethered"]

_PIPE: tuple[int, int] | None = None
_LOCK = threading.Lock()


def _read_end() -> int:
    """The read end of this process's tether pipe, made once; the write end stays open
    (and non-inheritable) until the process dies."""
    global _PIPE
    with _LOCK:
        if _PIPE is None:
            _PIPE = os.pipe()
        return _PIPE[0]


def tethered(argv: list[str]) -> tuple[list[str], tuple[int]]:
    """``argv`` wrapped to die with this process, and the file descriptor to pass down
    (``Popen(argv, pass_fds=fds, start_new_session=True)``: the launcher kills its own
    process group, so it must lead one; the caller can signal it with ``os.killpg``)."""
    fd = _read_end()
    # -I: the launcher reads no PYTHON* variable and imports nothing from its folder
    return [sys.executable, "-I", os.path.abspath(__file__), str(fd), *argv], (fd,)


def _launch(fd: int, argv: list[str]) -> int:
    def ignore(signum: int, frame: object) -> None:  # a handler, not SIG_IGN: exec resets it
        pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, ignore)
    try:
        child = subprocess.Popen(argv)
    except OSError as exc:
        print(f"tether: cannot start {argv[0]}: {exc}", file=sys.stderr)
        return 127

    def watch() -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    break
            except InterruptedError:
                continue
        os.killpg(0, signal.SIGKILL)  # the starter is gone: the whole group goes too

    threading.Thread(target=watch, daemon=True).start()
    code = child.wait()
    if code < 0:  # died of a signal: die of the same one, so the starter sees it
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(_launch(int(sys.argv[1]), sys.argv[2:]))
