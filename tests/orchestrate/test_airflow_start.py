"""Airflow's start on a home that has run it before skips the database preparation."""

from __future__ import annotations

import sqlite3
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
        "    import sqlite3\n"
        "    db = sqlite3.connect(os.path.join(os.environ['AIRFLOW_HOME'], 'airflow.db'))\n"
        "    db.execute('create table if not exists alembic_version (version_num text)')\n"
        "    db.execute('delete from alembic_version')\n"
        "    db.execute(\"insert into alembic_version values ('head')\")\n"
        "    db.commit()\n"
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
    (home / "airflow.db").unlink()  # a reset: no database
    runner.prepare_database(airflow, home)
    assert ran() == ["db migrate", "pools set"]
    with sqlite3.connect(home / "airflow.db") as db:  # an older database put in its place
        db.execute("update alembic_version set version_num = 'older'")
    runner.prepare_database(airflow, home)
    assert ran() == ["db migrate", "pools set"]
    monkeypatch.setattr(runner, "_airflow_versions", lambda: "apache-airflow 99.0.0")
    runner.prepare_database(airflow, home)  # another Airflow: its migrations may differ
    assert ran() == ["db migrate", "pools set"]
    runner.prepare_database(airflow, home)
    assert ran() == []
