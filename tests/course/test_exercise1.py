"""Exercise 1's checks on variants of the solution: each mistake gets its own message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.course import exercise1
from sandbox.course.checks import COURSE_DIR

SOLUTION = COURSE_DIR / "exercise-1" / "solution"
MODULE = "retention.py"


def variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """A copy of the solution with each (old, new) replaced in its module."""
    work = tmp_path / "work"
    shutil.copytree(SOLUTION, work, ignore=shutil.ignore_patterns("__pycache__"))
    text = (work / MODULE).read_text()
    for old, new in edits:
        assert old in text, f"the solution no longer has {old!r}: update the case"
        text = text.replace(old, new)
    (work / MODULE).write_text(text)
    return work


def test_the_solution_is_found_pure_and_wired() -> None:
    for check in (
        exercise1.check_job_module,
        exercise1.check_transform_is_pure,
        exercise1.check_wired_as_task,
        exercise1.check_ci_runs_tests,
    ):
        assert check(SOLUTION).passed, check(SOLUTION).message


MISTAKES = {
    # The prototype's habit: a literal path inside the job.
    "hard-coded path": (
        'MART = "retention_by_cohort"',
        'MART = "retention_by_cohort"\nSOURCE = "s3://lake/silver/core/dim_player"',
        exercise1.check_transform_is_pure,
        "hard-codes the path 's3://lake/silver",
    ),
    # Reading inside the transform makes it untestable on inline rows.
    "I/O in the transform": (
        "    cohort = dim_player.select(",
        '    dim_player = dim_player.sparkSession.read.table("x")\n    cohort = dim_player.select(',
        exercise1.check_transform_is_pure,
        "calls table()",
    ),
    # Without type hints the checker (and a reader) cannot tell the transform.
    "no type hints": (
        ') -> DataFrame:\n    """One row per signup',
        '):\n    """One row per signup',
        exercise1.check_job_module,
        "no function typed DataFrame in",
    ),
    "unknown upstream": (
        '("silver",), run_retention',
        '("silverr",), run_retention',
        exercise1.check_wired_as_task,
        "depends on ['silverr']",
    ),
    "no upstream": (
        '("silver",), run_retention',
        "(), run_retention",
        exercise1.check_wired_as_task,
        "has no upstream",
    ),
    "module does not import": (
        "from pyspark.sql import DataFrame\n",
        "from pyspark.sql import DataFrame\nimport not_a_module\n",
        exercise1.check_job_module,
        "does not import: ModuleNotFoundError",
    ),
    # A session built at import would hang the checker on an absent server.
    "session at import": (
        'MART = "retention_by_cohort"',
        'MART = "retention_by_cohort"\nfrom pyspark.sql import SparkSession\n'
        'spark = SparkSession.builder.remote("sc://127.0.0.1:1").getOrCreate()',
        exercise1.check_job_module,
        "calls getOrCreate() at import",
    ),
    "syntax error": (
        "def run_retention(",
        "def run_retention(:",
        exercise1.check_job_module,
        "is not valid Python",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_mistake_fails_its_check_with_what_to_do(tmp_path: Path, mistake: str) -> None:
    old, new, check, words = MISTAKES[mistake]
    result = check(variant(tmp_path, (old, new)))
    assert not result.passed
    assert words in result.message


def test_a_state_machine_wires_the_job_too(tmp_path: Path) -> None:
    work = variant(tmp_path, ("TASK = Task(", "_TASK = Task("))
    (work / "retention.asl.json").write_text(
        '{"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": "arn:aws:states:::'
        'lambda:invoke", "Parameters": {"Payload": {"task": "retention_by_cohort"}}, "End": true}}}'
    )
    assert exercise1.check_wired_as_task(work).passed


def test_a_different_result_fails_with_an_example_row(tmp_path: Path) -> None:
    # Counting matches instead of players: the classic mistake the prototype avoids.
    work = variant(
        tmp_path,
        (
            '.agg(F.countDistinct("player_id").alias("active_players"))',
            '.agg(F.count(F.lit(1)).alias("active_players"))',
        ),
        ("        .distinct()\n", "\n"),
    )
    result = exercise1.check_same_result_as_prototype(work)
    assert not result.passed
    assert "differs from the prototype on the sample" in result.message
    assert "missing {" in result.message


def test_the_reference_computes_what_the_prototype_notebook_computes() -> None:
    # The checker grades against the reference function: it must be the prototype's
    # result. Run the notebook's transformation cell on the same sample frames.
    import nbformat
    from pyspark.sql import functions as F

    from sandbox.course.sample_lake import sample_silver
    from sandbox.platform.session import in_process_sail

    book = nbformat.read(COURSE_DIR / "exercise-1" / "start" / "retencao_prototipo.ipynb", 4)
    cell = next(c.source for c in book.cells if "retencao = (" in c.source)
    reference = exercise1.load_module(exercise1.REFERENCE).retention_by_cohort
    with in_process_sail(quiet=True) as spark:
        silver = sample_silver(spark)
        scope = {
            "F": F,
            "jogadores": silver["dim_player"],
            "participacoes": silver["fct_match_player"],
            "partidas": silver["fct_match"],
        }
        exec(cell.replace("retencao.show(50)", ""), scope)
        prototype = exercise1.result_rows(scope["retencao"])
        ours = exercise1.result_rows(
            reference(silver["dim_player"], silver["fct_match_player"], silver["fct_match"])
        )
    assert prototype == ours and len(ours) > 5
