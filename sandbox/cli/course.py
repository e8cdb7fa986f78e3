"""Commands for instructors and students of the course case: course start|check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sandbox.cli.root import app, console, fail
from sandbox.platform import SandboxError

course_app = typer.Typer(
    help="The course kit: start an exercise, check a student's work (course/README.md).",
    no_args_is_help=True,
)
app.add_typer(course_app, name="course", rich_help_panel="Orchestration")

ExerciseArg = Annotated[int, typer.Argument(help="The exercise: 1 (PySpark job) or 2 (dbt CI/CD).")]


@course_app.command("start")
def course_start(
    exercise: ExerciseArg,
    force: Annotated[bool, typer.Option(help="Replace an existing work/ folder.")] = False,
) -> None:
    """Copy the exercise's starting point to course/exercise-N/work/, where check looks."""
    from sandbox.course import start_work

    try:
        work = start_work(exercise, force=force)
    except SandboxError as exc:
        raise fail(exc) from exc
    console.print(f"started exercise {exercise} in {work}")
    console.print(f"check it with:  uv run sandbox course check {exercise}")


@course_app.command("check")
def course_check(
    exercise: ExerciseArg,
    path: Annotated[
        Path | None,
        typer.Option(help="The work to grade (default: course/exercise-N/work/)."),
    ] = None,
) -> None:
    """Grade a student's work: one line per check, what to do for each that fails."""
    from sandbox.course import check_exercise

    try:
        checks = check_exercise(exercise, path)
    except SandboxError as exc:
        raise fail(exc) from exc
    for check in checks:
        mark = "[green]PASS[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.message}", soft_wrap=True)
    passed = sum(c.passed for c in checks)
    console.print(f"{passed}/{len(checks)} checks pass")
    if passed < len(checks):
        raise typer.Exit(code=1)
