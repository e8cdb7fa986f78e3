"""Commands for instructors and students of the course case: course start|check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sandbox.cli.root import app, command_group, console, fail
from sandbox.platform import SandboxError

course_app = command_group(
    "The course kit: start an exercise, check a student's work (course/README.md)."
)
app.add_typer(course_app, name="course", rich_help_panel="Orchestration")

ExerciseArg = Annotated[int, typer.Argument(help="The exercise: 1 (PySpark job) or 2 (dbt CI/CD).")]
LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help="Language of the messages: en or pt-BR (default: the locale's; pt* is pt-BR).",
    ),
]


@contextmanager
def _speaking(lang: str | None) -> Iterator[None]:
    from sandbox.course.catalogue import parse_language, speaking

    try:
        chosen = parse_language(lang) if lang else None
    except ValueError as exc:  # an unknown --lang, and only that
        raise fail(exc) from exc
    with speaking(chosen):
        yield


@course_app.command("start")
def course_start(
    exercise: ExerciseArg,
    force: Annotated[bool, typer.Option(help="Replace an existing work/ folder.")] = False,
    lang: LangOption = None,
) -> None:
    """Copy the exercise's starting point to course/exercise-N/work/, where check looks."""
    from sandbox.course import start_work
    from sandbox.course.catalogue import t

    with _speaking(lang):
        try:
            work = start_work(exercise, force=force)
        except SandboxError as exc:
            raise fail(exc) from exc
        console.print(t("cli.started", exercise=exercise, work=work))
        console.print(t("cli.check_hint", exercise=exercise))


@course_app.command("pack")
def course_pack(
    student: Annotated[
        Path, typer.Option("--student", help="Where to write the students' repository.")
    ],
    lang: LangOption = None,
) -> None:
    """Write the students' repository: no solution, instructor notes or checker variants."""
    from sandbox.course.catalogue import t
    from sandbox.course.pack import pack_student

    with _speaking(lang):
        try:
            pack = pack_student(student)
        except SandboxError as exc:
            raise fail(exc) from exc
        console.print(escape(t("cli.packed", path=pack.path, files=pack.files)))
        for name in pack.left_out:
            console.print(escape(f"  - {name}"))


@course_app.command("check")
def course_check(
    exercise: ExerciseArg,
    path: Annotated[
        Path | None,
        typer.Option(help="The work to grade (default: course/exercise-N/work/)."),
    ] = None,
    lang: LangOption = None,
) -> None:
    """Grade a student's work: one line per check, what to do for each that fails."""
    from sandbox.course import check_exercise
    from sandbox.course.catalogue import t

    with _speaking(lang):
        try:
            checks = check_exercise(exercise, path)
        except SandboxError as exc:
            raise fail(exc) from exc
        for check in checks:
            mark = f"[green]{t('cli.pass')}[/]" if check.passed else f"[red]{t('cli.fail')}[/]"
            text = escape(f"{check.title}: {check.message}")
            console.print(f"{mark} {text}", soft_wrap=True)
        passed = sum(c.passed for c in checks)
        console.print(t("cli.summary", passed=passed, total=len(checks)))
    if passed < len(checks):
        raise typer.Exit(code=1)
