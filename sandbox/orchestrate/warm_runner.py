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
libraries changes (after ``uv sync``); the client then runs cold once. The client's
side is :mod:`sandbox.orchestrate.warm_client`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from sandbox.orchestrate.warm_client import CHILD_MARKER, RESTART, STARTED, TRAILER

_LIFELINE: list[int] = []  # (read, write) ends of the pipe every run watches
KILL_AFTER_S = 10.0  # a run whose client is gone gets SIGINT, then SIGKILL after this

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


def _fingerprint() -> dict[str, tuple[int, int]]:
    """The files this process depends on: the project modules it has imported, the entry
    files of the preloaded libraries and the site-packages folders (an install or an
    uninstall changes them), each as (mtime, size)."""
    import site

    paths = [*site.getsitepackages(), site.getusersitepackages()]
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and (name == "sandbox" or name.startswith("sandbox.") or "." not in name):
            paths.append(path)
    out = {}
    for path in paths:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            out[path] = (st.st_mtime_ns, st.st_size)
    return out


def _python_env(env: dict[str, str]) -> dict[str, str]:
    """PYTHONPATH and the like: a client whose differ from the runner's runs cold."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


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
    _LIFELINE.extend(os.pipe())  # its write end stays here: closed only when we die
    loaded = _fingerprint()
    names = sum(m in sys.modules for m in (*PRELOAD, *CLI_PRELOAD))
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
            busy = children or kill_at
            for key, _ in selector.select(timeout=0.02 if busy else None):
                if key.data is None:
                    conn, _ = listener.accept()
                    # stale: this run goes cold; the runner restarts once the others end
                    stale = stale or _fingerprint() != loaded
                    pid = _start(conn, [listener, *children.values()], stale=stale)
                    if pid is not None:
                        children[pid] = conn
                        selector.register(conn, selectors.EVENT_READ, pid)
                    continue
                pid = key.data  # the client pressed Ctrl-C, or went away
                sent = b""
                with contextlib.suppress(OSError):
                    sent = key.fileobj.recv(64)  # type: ignore[union-attr]
                _signal(pid, signal.SIGINT)
                if not sent:  # gone (killed, cancelled): SIGKILL if SIGINT is not enough
                    kill_at[pid] = time.monotonic() + KILL_AFTER_S
                    selector.unregister(key.fileobj)
            for pid, when in list(kill_at.items()):
                if pid not in children:
                    del kill_at[pid]
                elif time.monotonic() > when:
                    _signal(pid, signal.SIGKILL)
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
        for pid in children:  # the runner stops: its runs end as on Ctrl-C
            _signal(pid, signal.SIGINT)


def _signal(pid: int, sig: int) -> None:
    """Signal a run and what it started: each run leads a process group of its own, as
    a cold run leads the terminal's foreground group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _answer(conn: socket.socket, code: int) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(TRAILER + str(code).encode() + b"\n")
    conn.close()


def _restart(socket_path: Path) -> None:
    socket_path.unlink(missing_ok=True)
    sys.stdout.flush()
    argv = [sys.executable, "-P", "-m", "sandbox.orchestrate.warm_runner", str(socket_path)]
    os.execv(sys.executable, argv)


def _peer_is_us(conn: socket.socket) -> bool:
    """The client runs as our user (Linux's SO_PEERCRED; elsewhere mode 600 checks it)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1] == os.getuid()


def _receive(conn: socket.socket) -> tuple[dict, list[int]] | None:
    """The request and the client's stdin, stdout and stderr; None if there is none
    (answered: the client then runs cold)."""
    fds: list[int] = []
    try:
        conn.settimeout(5)  # a client stopped mid-request must not stall the runner
        if not _peer_is_us(conn):
            raise ValueError("the client runs as another user")
        msg, fds, _, _ = socket.recv_fds(conn, 1, 3)
        if not msg:  # a probe (`is_ready`) connects and closes
            conn.close()
            return None
        request = json.loads(_read_line(conn))
        conn.settimeout(None)
        if not isinstance(request, dict) or not isinstance(request.get("env"), dict):
            raise ValueError("a request is a JSON object with the client's env")
        if len(fds) != 3 or not isinstance(request.get("args"), list):
            raise ValueError("a request needs args and the client's stdin, stdout, stderr")
    except (OSError, ValueError) as exc:
        for fd in fds:
            os.close(fd)
        print(f"runner: bad request: {exc}", flush=True)
        _answer(conn, RESTART)
        return None
    return request, fds


def _start(conn: socket.socket, inherited: list[socket.socket], *, stale: bool) -> int | None:
    """Fork the request's child; None if there is nothing to run here (answered)."""
    received = _receive(conn)  # read whole before any answer: unread data resets the socket
    if received is None:
        return None
    request, fds = received
    same = _python_env(request.get("env", {})) == _python_env(dict(os.environ))
    pid = -1
    if not stale and same and request.get("python") == sys.executable:
        sys.stdout.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            print(f"runner: cannot fork: {exc}", flush=True)
    if pid:  # the runner (no child at all if -1: the client then runs cold)
        for fd in fds:
            os.close(fd)
        if pid < 0:
            _answer(conn, RESTART)
            return None
        what = f"python {request['script']}" if request.get("script") else "sandbox"
        print(f"runner: {what} {' '.join(request['args'])} (pid {pid})", flush=True)
        with contextlib.suppress(OSError):
            conn.sendall(STARTED)
        return pid
    code = 1
    try:  # the child: becomes the command, with the client's stdin, stdout, stderr
        os.setpgid(0, 0)
        _die_with_the_runner()
        for other in [*inherited, conn]:
            other.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(request["env"] | {CHILD_MARKER: "1"})
        time.tzset()
        os.umask(request.get("umask", 0o022))
        os.chdir(request["cwd"])
        sys.stdout.reconfigure(line_buffering=os.isatty(1))  # type: ignore[union-attr]
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
        return _exit_code_of(exc)
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
        return _exit_code_of(exc)
    finally:
        if "sandbox.platform.session" in sys.modules:
            sys.modules["sandbox.platform.session"].stop_sessions()
    return 0


def _exit_code_of(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def _die_with_the_runner() -> None:
    """A run ends with its runner, even one SIGKILLed, as a cold run ends with its
    process: a thread waits on the runner's lifeline pipe and kills the run's group on
    end-of-file (tether.py's pipe, without a launcher: the run is a fork, not an exec)."""
    if not _LIFELINE:
        return
    read_end, write_end = _LIFELINE
    os.close(write_end)  # only the runner holds it now

    def wait() -> None:
        # signals for the run go to its main thread: a SIGINT taken by this blocked
        # thread would not wake the run's sleep, and Ctrl-C would seem lost
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals))
        while os.read(read_end, 1):
            pass
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=wait, daemon=True, name="runner-lifeline").start()


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


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
