"""Re-run pipeline tasks whenever the project's code changes (``sandbox run --watch``).

An engineer changing a silver or gold job saves the file and wants the result, not a
new process: starting Python, the CLI and PySpark's Connect client costs about a
second before any work. The watcher keeps one process that has imported the heavy
third-party libraries (PySpark's client, pandas, Arrow, delta-rs, psycopg) and, on
every change, forks a child that imports the project's job code *fresh*, opens its
own Spark session and runs the tasks. Nothing of a job is reloaded in place, so a
changed job is exactly what a new ``sandbox run`` would run.

A change to a module the watcher itself has imported (the CLI, settings) cannot be
forked fresh: the watcher then restarts itself (``exec``) with the same arguments.
The parent never opens a Spark session or any other connection, so a child inherits
no socket.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.platform import Progress

PACKAGE = Path(__file__).resolve().parents[1]

# Imported once by the watcher so that every run's child starts with them loaded.
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "deltalake",
    "psycopg",
    "minio",
    "pyspark.sql",
    "pyspark.sql.functions",
    "pyspark.sql.connect.session",
    "pyspark.sql.connect.functions",
    # PySpark imports these on a job's first DataFrame call to find the caller's line
    # (0.2 s); they come with the notebooks' Jupyter and may be absent.
    "IPython",
    "ipykernel",
)

POLL_SECONDS = 0.1


def preload() -> None:
    """Import the libraries every run uses, with the garbage collector off, then freeze
    what they made out of it. Imports make next to no garbage, yet each import of
    many objects set off a full collection that walks every object loaded so far:
    60-110 ms each, two or three in a plain ``sandbox run``. Frozen, the libraries'
    objects (never garbage) are not walked again by any later collection."""
    import importlib

    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def snapshot(root: Path = PACKAGE) -> dict[Path, int]:
    """Every Python file of the project with its modification time (ns)."""
    out = {}
    for path in root.rglob("*.py"):
        try:
            out[path] = path.stat().st_mtime_ns
        except FileNotFoundError:  # removed between listing and stat
            continue
    return out


def changed(before: dict[Path, int], after: dict[Path, int]) -> list[Path]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def loaded_among(paths: list[Path]) -> set[Path]:
    """Those of ``paths`` this process has imported (resolved: a child cannot re-import
    them).

    Only the modules whose file has the name of one of ``paths`` are resolved:
    resolving every loaded module's path, a thousand with PySpark and pandas, took
    80 ms of every save."""
    wanted = {p.resolve() for p in paths}
    names = {p.name for p in wanted}
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and os.path.basename(path) in names and Path(path).resolve() in wanted:
            found.add(Path(path).resolve())
    return found


def run_in_child(run: Callable[[], int]) -> int:
    """Fork, call ``run`` in the child (its return value is the exit code), wait.

    Everything the watcher holds is frozen out of the garbage collector first: the
    child's first full collection would otherwise walk every object of the preloaded
    libraries (measured 0.19 s in a run of 2 s), and touching them would copy their
    pages."""
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the watcher's loop
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = run()
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # printed; the watcher goes on
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except KeyboardInterrupt:
            os.kill(pid, signal.SIGINT)  # let the child stop its run, then stop too
            os.waitpid(pid, 0)
            raise


def watch(
    run: Callable[[], int],
    *,
    progress: Progress = print,
    restart: Callable[[], None] | None = None,
    root: Path = PACKAGE,
    max_runs: int | None = None,
) -> None:
    """Run ``run`` in a fresh child now and after every change under ``root``.

    ``restart`` replaces this process when a file it has imported changed (by default
    ``exec`` of the same command line). ``max_runs`` stops after that many runs (tests).
    """
    preload()
    root = root.resolve()
    runs = 0
    seen = snapshot(root)
    while True:
        t0 = time.perf_counter()
        code = run_in_child(run)
        runs += 1
        outcome = "done" if code == 0 else f"failed (exit {code})"
        progress(
            f"watch: run {runs} {outcome} in {time.perf_counter() - t0:.2f}s; "
            f"watching {len(seen)} files under {root.name}/ (Ctrl-C to stop)"
        )
        if max_runs is not None and runs >= max_runs:
            return
        while True:
            time.sleep(POLL_SECONDS)
            now = snapshot(root)
            edits = changed(seen, now)
            if edits:
                break
        seen = now
        names = ", ".join(str(p.relative_to(root.parent)) for p in edits[:3])
        more = f" and {len(edits) - 3} more" if len(edits) > 3 else ""
        progress(f"watch: {names}{more} changed")
        stale = loaded_among(edits)
        if stale:
            progress(f"watch: {sorted(stale)[0].name} is loaded by the watcher; restarting it")
            (restart or _exec_self)()


def _exec_self() -> None:
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # keeps `-m sandbox`
