"""``sandbox run --watch``: every run in a fresh child that imports the changed code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sandbox.orchestrate import watch as w
from sandbox.platform.settings import PROJECT_ROOT
from sandbox.platform.stack import EmbeddedStack


def later(seconds: float, action) -> threading.Thread:
    def go() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def save(path: Path, text: str) -> None:
    path.write_text(text)
    mtime = path.stat().st_mtime_ns + 1_000_000  # a later mtime even on a coarse clock
    os.utime(path, ns=(mtime, mtime))


def test_changed_names_added_removed_and_edited_files(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    before = w.snapshot(tmp_path)
    save(tmp_path / "a.py", "x = 1")
    (tmp_path / "b.py").unlink()
    (tmp_path / "c.py").write_text("")
    (tmp_path / "notes.txt").write_text("not code")
    assert w.changed(before, w.snapshot(tmp_path)) == [
        tmp_path / n for n in ("a.py", "b.py", "c.py")
    ]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(w, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(w, "PRELOAD", ())
    yield root
    for name in ("watched_job", "watcher_module"):
        sys.modules.pop(name, None)


def test_each_run_imports_the_code_as_saved_in_a_child(project: Path) -> None:
    save(project / "watched_job.py", "CODE = 3\n")
    messages: list[str] = []

    def run() -> int:
        import watched_job  # fresh in every child: the watcher never imports it

        (project / f"ran-{os.getpid()}").write_text("")
        return watched_job.CODE

    def progress(message: str) -> None:
        messages.append(message)
        if message.startswith("watch: run 1 "):
            later(0.1, lambda: save(project / "watched_job.py", "CODE = 4\n"))

    w.watch(run, progress=progress, root=project, max_runs=2)
    ends = [m.split(" in ")[0] for m in messages if m.startswith("watch: run")]
    assert ends == ["watch: run 1 failed (exit 3)", "watch: run 2 failed (exit 4)"]
    assert "watch: proj/watched_job.py changed" in messages
    children = {p.name for p in project.glob("ran-*")}
    assert len(children) == 2 and f"ran-{os.getpid()}" not in children
    assert "watched_job" not in sys.modules


def test_a_loaded_file_is_found_whether_it_was_imported_through_a_link_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "linked_module.py").write_text("VALUE = 1\n")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    monkeypatch.syspath_prepend(str(link))  # imported through the link
    import linked_module  # noqa: F401

    (real / "other.py").write_text("")
    try:
        found = {real / "linked_module.py"}
        assert w.loaded_among([link / "linked_module.py", link / "other.py"]) == found
        assert w.loaded_among([real / "linked_module.py"]) == found
        assert w.loaded_among([real / "other.py"]) == set()
    finally:
        sys.modules.pop("linked_module", None)


def test_a_change_to_code_the_watcher_loaded_restarts_it(project: Path) -> None:
    save(project / "watcher_module.py", "VALUE = 1\n")
    import watcher_module  # noqa: F401 - loaded by the watcher, as the CLI is

    class Restarted(Exception):
        pass

    def restart() -> None:
        raise Restarted

    def progress(message: str) -> None:
        if message.startswith("watch: run 1 "):
            later(0.1, lambda: save(project / "watcher_module.py", "VALUE = 2\n"))

    with pytest.raises(Restarted):
        w.watch(lambda: 0, progress=progress, restart=restart, root=project, max_runs=5)


def test_an_exception_in_a_run_is_printed_and_the_watcher_goes_on(
    project: Path, capfd: pytest.CaptureFixture
) -> None:
    messages: list[str] = []

    def run() -> int:
        raise NameError("name 'silvr' is not defined")

    w.watch(run, progress=messages.append, root=project, max_runs=1)
    assert messages[0].startswith("watch: run 1 failed (exit 1)")
    assert "NameError: name 'silvr' is not defined" in capfd.readouterr().err


def test_preload_freezes_the_libraries_out_of_the_collector_and_leaves_it_on() -> None:
    script = (
        "import gc, sys; from sandbox.orchestrate import watch; watch.preload(); "
        "assert gc.isenabled() and gc.get_freeze_count() > 100_000, gc.get_freeze_count(); "
        "assert 'pyspark.sql.connect.session' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_the_tasks_not_marked_heavy_load_no_spark_client() -> None:
    # ``sandbox run ingest`` skips the preload: its modules must not need it.
    from sandbox.orchestrate.pipeline import TASKS

    assert {t.name for t in TASKS if not t.heavy} == {"ingest_dms", "ingest_firehose"}
    script = (
        "import sys; import sandbox.ingest.dms.task, sandbox.ingest.events.firehose, "
        "sandbox.ingest.events.sns; "
        "heavy = [m for m in ('pyspark', 'pandas', 'deltalake') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_a_child_starts_with_the_watchers_objects_out_of_the_collector() -> None:
    # Its first full collection would otherwise walk every preloaded object (0.2 s).
    import gc

    held = [{"n": i} for i in range(10_000)]
    try:
        assert w.run_in_child(lambda: 0 if gc.get_freeze_count() > len(held) else 3) == 0
    finally:
        gc.unfreeze()


@pytest.mark.slow
def test_sandbox_run_watch_runs_again_when_a_job_is_saved(running_stack: EmbeddedStack) -> None:
    env = os.environ | running_stack.settings.as_env() | {"COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "run", "--watch", "ingest_firehose"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} in:\n{''.join(lines)}")

    try:
        wait_for("watch: run 1 done")
        os.utime(PROJECT_ROOT / "sandbox" / "jobs" / "gold.py")  # "saved", content unchanged
        wait_for("watch: sandbox/jobs/gold.py changed")
        wait_for("watch: run 2 done")  # not a restart: the watcher has no job code loaded
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "watch: stopped" in out


@pytest.mark.slow
def test_a_run_releases_its_spark_session_before_its_child_exits(
    running_stack: EmbeddedStack,
) -> None:
    # A forked run exits with os._exit (no atexit handlers): the run stops its session.
    from sandbox.platform import session

    settings = running_stack.settings
    spark = session.spark_session(settings)
    assert spark.range(3).count() == 3
    session.stop_sessions()
    assert spark.is_stopped and session._SESSIONS == {}
    assert session.spark_session(settings).range(2).count() == 2  # a new one opens
    session.stop_sessions()


def test_each_session_is_released_against_its_own_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process that opened sessions on several stacks (a test worker) checks each
    # session's own server: one that is gone is not retried for a minute.
    from sandbox.platform import session

    opened = {"sc://127.0.0.1:50051": "first", "sc://127.0.0.1:41234": "second"}
    monkeypatch.setattr(session, "_SESSIONS", dict(opened))
    released = []
    monkeypatch.setattr(
        session, "_stop_quietly", lambda spark, host, port: released.append((spark, host, port))
    )
    session.stop_sessions()
    assert sorted(released) == [("first", "127.0.0.1", 50051), ("second", "127.0.0.1", 41234)]
    assert session._SESSIONS == {}


def test_releasing_a_session_whose_server_is_gone_logs_nothing() -> None:
    # At exit a test worker releases sessions whose servers its tests stopped. PySpark
    # logs each failed release on its Spark Connect logger, which a logging.config call
    # elsewhere in the process turns on; at exit its stream is closed ("Logging error").
    import io
    import logging
    import socket

    from pyspark.sql import SparkSession
    from pyspark.sql.connect.logging import logger

    from sandbox.platform.session import _stop_quietly

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    spark = SparkSession.builder.remote(f"sc://127.0.0.1:{port}").create()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    was_disabled, level = logger.disabled, logger.level
    logger.disabled = False  # as logging.config.dictConfig(...) leaves it
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        _stop_quietly(spark, "127.0.0.1", port)
    finally:
        logger.removeHandler(handler)
        logger.disabled = was_disabled
        logger.setLevel(level)
    assert spark.is_stopped
    assert stream.getvalue() == ""
    assert logger.disabled == was_disabled  # left as it was found
