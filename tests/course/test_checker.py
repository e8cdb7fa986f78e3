"""`sandbox course check 1|2`: passes on the reference solutions, fails with what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.course.checks import COURSE_DIR
from sandbox.platform.settings import PROJECT_ROOT

EX1, EX2 = COURSE_DIR / "exercise-1", COURSE_DIR / "exercise-2"


def check(exercise: int, path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["course", "check", str(exercise), "--path", str(path)])
    return result.exit_code, " ".join(result.output.split())


def test_check_1_fails_on_the_start_saying_what_is_missing() -> None:
    code, out = check(1, EX1 / "start")
    assert code == 1
    assert "FAIL job module: no job module" in out
    assert "(found retencao_prototipo.ipynb)" in out
    assert "FAIL unit tests: no test_*.py" in out
    assert "FAIL wired as a pipeline task: the job is not wired" in out
    assert "FAIL CI runs the tests: no workflow" in out
    assert "0/6 checks pass" in out


@pytest.mark.slow  # runs the solution's own tests in a subprocess, with its own Sail
def test_check_1_passes_on_the_solution() -> None:
    code, out = check(1, EX1 / "solution")
    assert code == 0, out
    assert "same result as the prototype: 12 rows" in out
    assert "unit tests: 5 passed" in out
    assert "6/6 checks pass" in out


def test_check_2_fails_on_the_start_saying_what_is_missing() -> None:
    code, out = check(2, EX2 / "start")
    assert code == 1
    assert "PASS dbt project" in out
    assert "no workflow in" in out and "runs dbt: add .github/workflows/dbt.yml" in out
    assert "1/7 checks pass" in out


def test_check_2_passes_on_the_solution() -> None:
    code, out = check(2, EX2 / "solution")
    assert code == 0, out
    assert "job 'slim-ci' builds state:modified+ with --defer" in out
    assert "job 'deploy' deploys on main after build" in out
    assert "7/7 checks pass" in out


def test_check_2_grades_the_repository_dbt_project_or_names_what_is_missing() -> None:
    # The case's own dbt/ and .github/workflows/dbt.yml are the reference answer once
    # merged; without them the checker must say which file is missing.
    code, out = check(2, PROJECT_ROOT)
    if (PROJECT_ROOT / "dbt" / "dbt_project.yml").is_file():
        assert code == 0, out
    else:
        assert code == 1
        assert "dbt/dbt_project.yml is missing" in out


def test_an_unknown_exercise_or_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    code, out = check(3, tmp_path)
    assert code == 1 and "no exercise 3; choose from [1, 2]" in out
    code, out = check(1, tmp_path / "nowhere")
    assert code == 1 and "nowhere is not a folder" in out


def test_start_copies_the_starting_point_where_check_looks(tmp_path, monkeypatch) -> None:
    course = tmp_path / "course"
    shutil.copytree(EX1 / "start", course / "exercise-1" / "start")
    monkeypatch.setattr("sandbox.course.grade.COURSE_DIR", course)
    runner = CliRunner()
    assert runner.invoke(app, ["course", "start", "1"]).exit_code == 0
    assert (course / "exercise-1" / "work" / "retencao_prototipo.ipynb").is_file()
    again = runner.invoke(app, ["course", "start", "1"])
    assert again.exit_code == 1 and "already exists" in " ".join(again.output.split())
    graded = runner.invoke(app, ["course", "check", "1"])
    assert graded.exit_code == 1 and "no job module" in graded.output
