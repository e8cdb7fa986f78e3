"""The README as a new user follows it: short, and every command in it run as written.

Every ``uv run ...`` in the README (code blocks and inline code) must be in ``WALK``
(run here, exactly as written, in a private home on free ports) or in ``BY_CI`` (run by
``.ci/run`` as written). A command added to the README without a test fails
``test_every_readme_command_is_run``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.platform.settings import PROJECT_ROOT

from .conftest import private_env

README = PROJECT_ROOT / "README.md"
MAX_LINES = 250

# Run by .ci/run itself, as written.
BY_CI = ["uv run just test", "uv run pytest -m matrix"]

# The walkthrough's order (the README's sections assume a stack in different states).
WALK = [
    "uv run sandbox --help",
    "uv run sandbox doctor",
    "uv run sandbox demo",
    "uv run sandbox status",
    "uv run sandbox run silver gold warehouse",
    "uv run sandbox run gold --force",
    "uv run sandbox --debug status",
    "uv run sandbox run silver gold warehouse --watch",
    "uv run just dbt build",
    "uv run sandbox aws up",
    "uv run sandbox airflow up",
    "uv run sandbox airflow run",
    "uv run just lab",
    "uv run just docs-build",
    "uv run just docs",
    "uv run sandbox down",
    "uv run sandbox up",
    "uv run sandbox reset --yes",
]


def readme_commands() -> list[str]:
    """Every ``uv run ...`` command of the README, in order, once each."""
    text = README.read_text()
    found: list[str] = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        found += [line.strip() for line in block.splitlines() if line.strip().startswith("uv run")]
    found += re.findall(r"`(uv run [^`]+)`", text)
    return list(dict.fromkeys(" ".join(c.split("  #")[0].split()) for c in found))


def test_the_readme_is_short() -> None:
    lines = README.read_text().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; the reference goes in docs/"


def test_every_readme_command_is_run() -> None:
    commands = readme_commands()
    assert commands, "the README shows how to run the sandbox"
    unrun = [c for c in commands if c not in WALK and c not in BY_CI]
    assert not unrun, f"README commands no test runs as written: {unrun}"
    stale = [c for c in WALK + BY_CI if c not in commands]
    assert not stale, f"commands run for the README that it no longer shows: {stale}"
    ci = (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
    for command in BY_CI:
        assert any(line.startswith(command) for line in ci), command


# -- the walkthrough ----------------------------------------------------------------


def _http_answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status < 500)
        except OSError:
            return False

    return check


def _server(command: str, env: dict[str, str], ready: Callable[[], bool], log: Path) -> None:
    """Start a command that serves until stopped; wait until ``ready``; stop it (its
    whole process group, as Ctrl-C in the terminal would)."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 240
            while not ready():
                assert proc.poll() is None, f"{command} exited: {log.read_text()[-2000:]}"
                late = time.monotonic() > deadline
                assert not late, f"{command} never served: {log.read_text()[-2000:]}"
                time.sleep(0.5)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.slow
@pytest.mark.matrix  # several minutes: the demo, dbt, Airflow, the AWS endpoint, Jupyter
def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    assert sorted(WALK) == sorted(set(WALK))
    env = private_env(tmp_path / "home") | {"UV_NO_SYNC": "1"}
    home = Path(env["SANDBOX_HOME"])
    logs = tmp_path / "logs"
    logs.mkdir()
    servers: dict[str, Callable[[], bool]] = {
        "uv run just lab": _http_answers("http://127.0.0.1:8888/api"),
        "uv run just docs": _http_answers("http://127.0.0.1:8000/"),
        # one run on start, then it waits for a save: its summary says whether it worked
        "uv run sandbox run silver gold warehouse --watch": lambda: (
            "watch: run 1 done" in (logs / "watch.log").read_text()
        ),
    }
    for url in ("http://127.0.0.1:8888/api", "http://127.0.0.1:8000/"):  # the README's ports
        assert not _http_answers(url)(), f"{url} already answers: stop that server first"
    try:
        for i, command in enumerate(WALK):
            log = logs / ("watch.log" if "--watch" in command else f"{i:02d}.log")
            if command in servers:
                _server(command, env, servers[command], log)
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            log.write_text(done.stdout + done.stderr)
            assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
            if command == "uv run sandbox demo":  # the expected output, the report to open
                assert "rows per layer" in done.stdout and "report:" in done.stdout
                report = home / "reports" / "gold-report.html"
                assert report.stat().st_size > 0
        assert not (home / "data").exists(), "reset --yes wiped the data"
    finally:
        subprocess.run(["bash", "-c", "uv run sandbox down"], env=env, cwd=PROJECT_ROOT)
