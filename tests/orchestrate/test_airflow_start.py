"""Airflow's start on a home that has run it before skips the database preparation."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from sandbox.orchestrate.airflow import runner


def _fake_airflow(tmp_path: Path) -> tuple[str, Path]:
    """An `airflow` that records its arguments; `db migrate` creates the database."""
    calls = tmp_path / "calls.txt"
    exe = tmp_path / "airflow"
    exe.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:3]) + '\\n')\n"
        "if sys.argv[1:3] == ['db', 'migrate']:\n"
        "    open(os.path.join(os.environ['AIRFLOW_HOME'], 'airflow.db'), 'a').close()\n"
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe), calls


def test_a_prepared_database_is_not_migrated_again_until_airflow_or_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    airflow, calls = _fake_airflow(tmp_path)

    def ran() -> list[str]:
        out = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        return out

    runner.prepare_database(airflow, home)
    assert ran() == ["db migrate", "pools set"]  # first start: migrate, then the pool
    runner.prepare_database(airflow, home)
    assert ran() == []  # warm start: straight to the components
    (home / "airflow.db").unlink()  # a reset: a new database file
    runner.prepare_database(airflow, home)
    assert ran() == ["db migrate", "pools set"]
    monkeypatch.setattr(runner.importlib.metadata, "version", lambda name: "99.0.0")
    runner.prepare_database(airflow, home)  # another Airflow: its migrations may differ
    assert ran() == ["db migrate", "pools set"]
