"""Grading: an exercise's folder, its starting point, and its checks run on a student's work."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from sandbox.course import exercise1, exercise1_product, exercise1_run, exercise1_wiring, exercise2
from sandbox.course.catalogue import t
from sandbox.course.checks import COURSE_DIR, EXERCISES, Check, CourseError

# Exercise 1's checks, in the order a student works: the module, what it computes, its
# tests, the task, CI, then productizing.
EXERCISE1: list[Callable[[Path], Check]] = [
    exercise1.check_job_module,
    exercise1.check_transform_is_pure,
    exercise1_run.check_same_result_as_prototype,
    exercise1_run.check_unit_tests,
    exercise1_wiring.check_wired_as_task,
    exercise1_wiring.check_ci_runs_tests,
    exercise1_product.check_retries,
    exercise1_product.check_alert,
    exercise1_product.check_schedule,
]


def exercise_dir(number: int) -> Path:
    """The folder of exercise ``number`` in ``course/``; unknown numbers raise."""
    if number not in EXERCISES:
        raise CourseError(t("error.no_exercise", number=number, choices=sorted(EXERCISES)))
    return COURSE_DIR / EXERCISES[number]


def start_work(number: int, *, force: bool = False) -> Path:
    """Copy the exercise's starting point to its ``work/`` folder (the checker's default)."""
    folder = exercise_dir(number)
    work = folder / "work"
    if work.exists() and not force:
        raise CourseError(t("error.work_exists", work=work))
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(folder / "start", work, ignore=shutil.ignore_patterns("__pycache__"))
    return work


def check_exercise(number: int, path: Path | None = None) -> list[Check]:
    """Grade the work in ``path`` (default: the exercise's ``work/``), one Check per point."""
    folder = exercise_dir(number)
    path = (path or folder / "work").resolve()
    if not path.is_dir():
        hint = f"`sandbox course start {number}`" if path == folder / "work" else "--path"
        raise CourseError(t("error.not_a_folder", path=path, hint=hint))
    checks: Sequence[Callable[[Path], Check]] = EXERCISE1 if number == 1 else exercise2.CHECKS
    if number == 1:
        from sandbox.course.exercise1_run import lab

        with lab():  # one Spark session for the checks that run the work
            return [_graded(check, path) for check in checks]
    return [_graded(check, path) for check in checks]


def _graded(check: Callable[[Path], Check], path: Path) -> Check:
    """``check(path)``; a check that cannot finish (a timeout, a tool that failed) is a
    FAIL saying so, and the other checks still run."""
    try:
        return check(path)
    except Exception as exc:  # the student's work, or a tool it drove, broke the check
        name = check.__name__.removeprefix("check_").replace("_", " ")
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return Check(name, False, t("error.check_crashed", error=f"{type(exc).__name__}: {first}"))
