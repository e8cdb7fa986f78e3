"""The client side of the warm runner (:mod:`sandbox.orchestrate.warm_runner`).

``sandbox run`` (and the local endpoint's EMR job drivers) hand a command to the runner
with :func:`delegate`: the request (arguments, environment, folder, umask) and the
caller's own stdin, stdout and stderr, the descriptors themselves over the Unix socket.
The runner answers ``STARTED`` once the run is under way, then the exit code. Until it
has started, any failure (no runner, a stale one, a refused request, a broken socket)
means "run cold": nothing ran. Kept apart from the server so that the CLI imports
nothing of it but this.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
from pathlib import Path

STARTED = b"sandbox-runner-started\n"  # the run is under way: no cold fallback after it
TRAILER = b"sandbox-runner-exit "  # then the exit code and a newline
RESTART = -1000  # what the runner answers for "not here": the client runs cold
# Set in a run's child, which runs the command itself. Not SANDBOX_*: those are settings.
CHILD_MARKER = "LAKEHOUSE_RUNNER_CHILD"


def delegate(socket_path: Path, args: list[str], *, script: str | None = None) -> int | None:
    """Run ``sandbox <args>`` (or ``python <script> <args>``) in the runner at
    ``socket_path`` on our stdin, stdout and stderr; its exit code, or None if nothing
    ran there (the caller then runs cold)."""
    if os.environ.get(CHILD_MARKER):
        return None
    try:
        st = socket_path.lstat()
    except OSError:
        return None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        return None  # not our runner's: send it no environment and no descriptors
    umask = os.umask(0)
    os.umask(umask)
    request = {
        "args": args,
        "script": script,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "umask": umask,
        "python": sys.executable,
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(socket_path))
            sys.stdout.flush()
            sys.stderr.flush()
            socket.send_fds(conn, [b"F"], [0, 1, 2])
            conn.sendall(json.dumps(request).encode() + b"\n")
            if not _started(conn):
                return None  # answered before starting anything
        except OSError:
            return None  # nothing ran
        return _exit_code(conn)


def _started(conn: socket.socket) -> bool:
    data = b""
    while len(data) < len(STARTED):
        chunk = conn.recv(len(STARTED) - len(data))
        if not chunk:
            return False
        data += chunk
    return data == STARTED


def _exit_code(conn: socket.socket) -> int:
    """Wait for the run's end. Ctrl-C is passed on (the run ends as a cold run does on
    Ctrl-C); a second one stops waiting, and the run is stopped. A run that died of a
    signal gives 128 + its number, as a shell reports it."""
    answer = b""
    interrupted = False
    while True:
        try:
            chunk = conn.recv(64)
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            with contextlib.suppress(OSError):
                conn.sendall(b"\x03")
            continue
        except OSError:
            break
        if not chunk:
            break
        answer += chunk
    if not answer.startswith(TRAILER):
        print("sandbox: the warm runner stopped during the run", file=sys.stderr)
        return 1
    code = int(answer[len(TRAILER) :].strip())
    return 128 - code if code < 0 else code


def run_job(socket_path: Path, script: str, args: list[str]) -> None:
    """``python <script> <args>`` through the runner when it answers, else in this
    process (exec): how the local endpoint starts an EMR Serverless job's driver."""
    code = delegate(socket_path, args, script=script)
    if code is None:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, script, *args])
    sys.exit(code)


if __name__ == "__main__":  # SOCKET SCRIPT [ARGS...]
    run_job(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
