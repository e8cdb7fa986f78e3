"""Run the installed ``sandbox`` command as a user does: a process, its exit code, its output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.platform.ports import free_home_ports
from sandbox.platform.settings import PROJECT_ROOT

# The console script `uv sync` installs beside the interpreter (`sandbox = sandbox.cli:app`).
ENTRY_POINT = Path(sys.executable).parent / "sandbox"


@dataclass
class Ran:
    code: int
    out: str
    err: str


Sandbox = Callable[..., Ran]


def private_env(home: Path) -> dict[str, str]:
    """The caller's environment minus any SANDBOX_*, plus a private home on free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    for name, port in free_home_ports().items():
        env[f"SANDBOX_{name.upper()}"] = str(port)
    env["SANDBOX_HOME"] = str(home)
    env["COLUMNS"] = "200"  # rich tables: keep each row on one line
    return env


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    """``sandbox(*args, env=..., cwd=...)``: run the entry point on a private home and ports."""
    base = private_env(tmp_path / "home")

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT) -> Ran:
        done = subprocess.run(
            [str(ENTRY_POINT), *args],
            env=base | (env or {}),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run
