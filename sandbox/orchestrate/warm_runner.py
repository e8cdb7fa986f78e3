"""A warm runner: plain ``sandbox run`` commands handed to a process that has PySpark loaded.

A cold ``sandbox run silver gold warehouse`` spends most of its seconds starting Python
and importing PySpark's client, pandas, Arrow and the CLI's own libraries, not on the
tasks. ``sandbox up`` therefore starts this runner (``SANDBOX_WARM_RUNNER``, on by
default): it imports those third-party libraries once (what ``--watch`` preloads, plus
Typer, rich and pydantic) and listens on a Unix socket of the home, ``run/runner.sock``
(mode 600: only its user can connect).

``sandbox run`` without ``--watch`` sends its arguments, environment, working folder and
its standard input, output and error (the descriptors themselves, over the socket); the
runner forks a child that takes them, imports the project's code *fresh* (the runner
never imports the CLI, the settings or a job) and runs the same CLI command, writing
where the client would have written: its terminal, its pipe. So a warm run is what a
cold run would be, only without the start-up: same code, same settings, same result.
The exit code comes back last; Ctrl-C interrupts the child. The runner restarts itself
(once no run is left) when a project file it has loaded or one of its preloaded
libraries changes (after ``uv sync``); the client then runs cold once.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path

TRAILER = b"sandbox-runner-exit "  # then the exit code and a newline
RESTART = -1000  # the runner is stale: the client runs cold this time
KILL_AFTER_S = 10.0  # a run whose client is gone gets SIGINT, then SIGKILL after this
# Set in a run's child, which runs the command itself. Not SANDBOX_*: those are settings.
CHILD_MARKER = "LAKEHOUSE_RUNNER_CHILD"

# The libraries every run's child finds loaded, beyond what ``--watch`` preloads.
CLI_PRELOAD = (
    "typer",
    "click",
    "rich.console",
    "rich.progress",
    "rich.table",
    "pydantic",
    "pydantic_settings",
    "psutil",
    "psycopg",
    "grpc",
)


def _fingerprint() -> dict[str, int]:
    """The files this process depends on: the project modules it has imported and the
    entry files of the preloaded libraries (a ``uv sync`` replaces them)."""
    out = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and (name == "sandbox" or name.startswith("sandbox.") or "." not in name):
            with contextlib.suppress(OSError):
                out[path] = os.stat(path).st_mtime_ns
    return out


def serve(socket_path: Path) -> None:
    """Preload, then answer requests on ``socket_path`` until SIGTERM."""
    from sandbox.orchestrate.watch import PRELOAD, preload

    socket_path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(str(socket_path))  # mode 600 from the umask
    finally:
        os.umask(old)
    listener.listen(16)  # a client connecting during the preload waits in the backlog
    preload()
    import importlib

    for name in CLI_PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    gc.freeze()
    loaded = _fingerprint()
    names = len(PRELOAD) + len(CLI_PRELOAD)
    print(f"runner: {names} libraries loaded, listening on {socket_path}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    children: dict[int, socket.socket] = {}
    kill_at: dict[int, float] = {}  # runs whose client is gone: SIGKILL after this
    stale = False
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    try:
        while True:
            if stale and not children:
                _restart(socket_path)
            for key, _ in selector.select(timeout=0.02):
                if key.data is None:
                    conn, _ = listener.accept()
                    # stale: this run goes cold; the runner restarts once the others end
                    stale = stale or _fingerprint() != loaded
                    inherited = [listener, *children.values()]
                    pid = _start(conn, inherited, stale=stale)
                    if pid is None:
                        continue
                    children[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
                else:  # the client sent Ctrl-C, or went away: interrupt its run
                    sent = b""
                    with contextlib.suppress(OSError):
                        sent = key.fileobj.recv(64)  # type: ignore[union-attr]
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(key.data, signal.SIGINT)
                    if not sent:  # gone (killed, cancelled): SIGKILL if SIGINT is ignored
                        kill_at[key.data] = time.monotonic() + KILL_AFTER_S
                    selector.unregister(key.fileobj)
            for pid, when in list(kill_at.items()):
                if pid not in children:
                    del kill_at[pid]
                elif time.monotonic() > when:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    del kill_at[pid]
            for pid in list(children):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    conn = children.pop(pid)
                    with contextlib.suppress(KeyError, ValueError):
                        selector.unregister(conn)
                    code = os.waitstatus_to_exitcode(status)
                    print(f"runner: pid {pid} exited {code}", flush=True)
                    _answer(conn, code)
    finally:
        socket_path.unlink(missing_ok=True)


def _answer(conn: socket.socket, code: int) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(TRAILER + str(code).encode() + b"\n")
    conn.close()


def _restart(socket_path: Path) -> None:
    socket_path.unlink(missing_ok=True)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", __name__, str(socket_path)])


def _receive(conn: socket.socket) -> tuple[dict, list[int]] | None:
    """The request and the client's stdin, stdout and stderr; None (answered) if unreadable."""
    fds: list[int] = []
    try:
        _, fds, _, _ = socket.recv_fds(conn, 1, 3)
        request = json.loads(_read_line(conn))
        if len(fds) != 3:
            raise ValueError("the client's stdin, stdout and stderr did not come")
    except (OSError, ValueError) as exc:
        for fd in fds:
            os.close(fd)
        print(f"runner: bad request: {exc}", flush=True)
        _answer(conn, 2)
        return None
    return request, fds


def _start(conn: socket.socket, inherited: list[socket.socket], *, stale: bool) -> int | None:
    """Fork the request's child; None if there is nothing to run here (answered)."""
    received = _receive(conn)  # read whole before any answer: unread data resets the socket
    if received is None:
        return None
    request, fds = received
    if stale or request.get("python") != sys.executable:  # the client runs cold
        for fd in fds:
            os.close(fd)
        _answer(conn, RESTART)
        return None
    sys.stdout.flush()
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        what = f"python {request['script']}" if request.get("script") else "sandbox"
        print(f"runner: {what} {' '.join(request['args'])} (pid {pid})", flush=True)
        return pid
    code = 1
    try:  # the child: becomes the command, with the client's stdin, stdout, stderr
        for other in [*inherited, conn]:
            other.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(request["env"] | {CHILD_MARKER: "1"})
        os.chdir(request["cwd"])
        if request.get("script"):  # an EMR Serverless job run's entry point
            code = _run_script(request["script"], request["args"])
        else:
            sys.argv = ["sandbox", *request["args"]]
            code = _run_command(request["args"])
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run_command(args: list[str]) -> int:
    from sandbox.cli import app
    from sandbox.platform import stop_sessions

    try:
        app(args, prog_name="sandbox")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        stop_sessions()  # the child exits without atexit handlers
    return 0


def _run_script(script: str, args: list[str]) -> int:
    """``python <script> <args>``, in this process: what a job run's driver does."""
    import runpy

    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).parent))  # as `python script` puts its folder
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        if "sandbox.platform.session" in sys.modules:
            sys.modules["sandbox.platform.session"].stop_sessions()
    return 0


def _read_line(conn: socket.socket, limit: int = 1 << 20) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("the client closed the connection")
        data += chunk
        if len(data) > limit:
            raise ValueError("request too large")
    return data


def delegate(socket_path: Path, args: list[str], *, script: str | None = None) -> int | None:
    """Run ``sandbox <args>`` (or ``python <script> <args>``) in the runner at
    ``socket_path`` on our stdin, stdout and stderr; its exit code, or None if no runner
    answers (the caller then runs cold)."""
    if os.environ.get(CHILD_MARKER) or not socket_path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(socket_path))
    except OSError:
        conn.close()
        return None
    request = {
        "args": args,
        "script": script,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "python": sys.executable,
    }
    with conn:
        sys.stdout.flush()
        sys.stderr.flush()
        socket.send_fds(conn, [b"F"], [0, 1, 2])
        conn.sendall(json.dumps(request).encode() + b"\n")
        return _exit_code(conn)


def _exit_code(conn: socket.socket) -> int | None:
    """Wait for the run's end; Ctrl-C is passed on once (the run then ends as a cold run
    would on Ctrl-C), a second one stops waiting."""
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
        if not chunk:
            break
        answer += chunk
    if not answer.startswith(TRAILER):
        print("sandbox: the warm runner stopped during the run", file=sys.stderr)
        return 1
    code = int(answer[len(TRAILER) :].strip())
    return None if code == RESTART else code


def run_job(socket_path: Path, script: str, args: list[str]) -> None:
    """``python <script> <args>`` through the runner when it answers, else in this
    process (exec): how the local endpoint starts an EMR Serverless job's driver."""
    code = delegate(socket_path, args, script=script)
    if code is None:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, script, *args])
    sys.exit(code)


if __name__ == "__main__":
    if sys.argv[1] == "--job":  # --job SOCKET SCRIPT [ARGS...]
        run_job(Path(sys.argv[2]), sys.argv[3], sys.argv[4:])
    serve(Path(sys.argv[1]))
