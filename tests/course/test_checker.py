"""`sandbox course check 1|2`: passes on the reference solutions, fails with what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.course.checks import COURSE_DIR
from sandbox.platform.settings import PROJECT_ROOT

EX1, EX2 = COURSE_DIR / "exercise-1", COURSE_DIR / "exercise-2"


def check(exercise: int, path: Path, *args: str) -> tuple[int, str]:
    command = ["course", "check", str(exercise), "--path", str(path), *args]
    result = CliRunner().invoke(app, command)
    return result.exit_code, " ".join(result.output.split())


def test_check_1_fails_on_the_start_saying_what_is_missing() -> None:
    code, out = check(1, EX1 / "start")
    assert code == 1
    assert "FAIL job module: no job module" in out
    assert "(found retencao_prototipo.ipynb)" in out
    assert "FAIL unit tests: no test_*.py" in out
    assert "FAIL wired as a pipeline task: the job is not wired" in out
    assert "FAIL CI runs the tests: no workflow" in out
    assert "0/9 checks pass" in out


@pytest.mark.slow  # runs the solution's own tests in a subprocess, with its own Sail
@pytest.mark.matrix  # 20 s of Spark, mutants and state machines; CI runs it after the default run
def test_check_1_passes_on_the_solution() -> None:
    code, out = check(1, EX1 / "solution")
    assert code == 0, out
    assert "same result as the prototype: the prototype's rows, no more, no fewer: 12" in out
    assert "unit tests: 5 passed" in out and "catch all 5 planted mistakes" in out
    assert "wrote what the transform returns to s3://lake/gold/retention_by_cohort" in out
    assert "retries: retention.asl.json: a planted transient failure" in out
    assert "failure alert: retention.asl.json: a planted permanent failure" in out
    assert "schedule: template.yaml (RetentionSchedule): cron(0 7 * * ? *)" in out
    assert "9/9 checks pass" in out


def test_check_1_speaks_portuguese_by_flag_or_locale(monkeypatch) -> None:
    code, out = check(1, EX1 / "start", "--lang", "pt-BR")
    assert code == 1
    assert "FALHA módulo do job: nenhum módulo do job" in out
    assert "0/9 critérios passam" in out
    monkeypatch.setenv("LANG", "pt_BR.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert "0/9 critérios passam" in check(1, EX1 / "start")[1]
    code, out = check(1, EX1 / "start", "--lang", "fr")
    assert code == 1 and "unknown language 'fr'" in out


def test_a_check_that_cannot_finish_is_a_fail_and_the_others_still_run(tmp_path: Path) -> None:
    from sandbox.course.grade import _graded

    def check_retries(root: Path):
        raise TimeoutError("airflow dags test took longer than 300 s")

    result = _graded(check_retries, tmp_path)
    assert not result.passed and result.name == "retries"
    assert "could not finish this check (TimeoutError: airflow dags test" in result.message


def test_every_message_exists_in_both_languages_with_the_same_placeholders() -> None:
    import string

    from sandbox.course.catalogue import MESSAGES

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    assert len(MESSAGES) > 50
    for key, (en, pt) in MESSAGES.items():
        assert en.strip() and pt.strip(), key
        assert fields(en) == fields(pt), key


def test_check_2_fails_on_the_start_saying_what_is_missing() -> None:
    code, out = check(2, EX2 / "start")
    assert code == 1
    assert "PASS dbt project" in out
    assert "no workflow in" in out and "runs dbt: add .github/workflows/dbt.yml" in out
    assert "2/8 checks pass" in out


def test_check_2_passes_on_the_solution() -> None:
    code, out = check(2, EX2 / "solution")
    assert code == 0, out
    assert "job 'slim-ci' builds state:modified+ with --defer --state" in out
    assert "job 'deploy' deploys on main after ['build']" in out
    assert "8/8 checks pass" in out


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


def _pack(tmp_path: Path) -> Path:
    pack = tmp_path / "students"
    result = CliRunner().invoke(app, ["course", "pack", "--student", str(pack)])
    assert result.exit_code == 0, result.output
    return pack


def _checker_in(pack: Path, *args: str) -> subprocess.CompletedProcess:
    """The pack's own checker (its sandbox package first on the path), as a student runs it."""
    env = {**os.environ, "PYTHONPATH": str(pack), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "sandbox", "course", "check", *args],
        cwd=pack,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_student_pack_has_no_solution_and_its_checker_works(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    files = [p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()]
    files = [f for f in files if not f.startswith(".git/")]
    assert not [f for f in files if "/solution/" in f or f.startswith("tests/course/")]
    # the case's own CI/CD answers exercise 2
    assert ".github/workflows/dbt.yml" not in files and "dbt/ci/run.sh" not in files
    assert "course/exercise-1/start/retencao_prototipo.ipynb" in files
    assert "for instructors" not in (pack / "course" / "README.md").read_text()
    assert (pack / ".git").is_dir(), "a repository to push"
    # the checker there is the pack's own, and grades without any solution
    which = subprocess.run(
        [sys.executable, "-c", "import sandbox; print(sandbox.__file__)"],
        cwd=pack,
        env={**os.environ, "PYTHONPATH": str(pack)},
        capture_output=True,
        text=True,
    )
    assert which.stdout.startswith(str(pack))
    one = _checker_in(pack, "1", "--path", "course/exercise-1/start")
    assert one.returncode == 1 and "no job module" in one.stdout, one.stdout + one.stderr
    two = _checker_in(pack, "2", "--path", "course/exercise-2/start")
    assert two.returncode == 1 and "PASS dbt project" in " ".join(two.stdout.split())
    again = CliRunner().invoke(app, ["course", "pack", "--student", str(pack)])
    assert again.exit_code == 1 and "is not empty" in " ".join(again.output.split())


@pytest.mark.matrix  # 15 s: the whole exercise 1 check, Spark and the tests' mutants
def test_the_student_pack_grades_a_right_answer_without_the_solution(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    shutil.copytree(EX1 / "solution", pack / "course" / "exercise-1" / "work")
    done = _checker_in(pack, "1")
    out = " ".join(done.stdout.split())
    assert done.returncode == 0, out + done.stderr[-2000:]
    assert "9/9 checks pass" in out
