"""Exercise 1's oracle: the analyst's prototype notebook, run as it is, and its mutants.

The checker grades a student's transform against :func:`run_prototype`, which executes
the transformation cells of ``course/exercise-1/start/retencao_prototipo.ipynb`` (the
notebook the students start from, so the oracle ships in their repository without any
solution) on the DataFrames it is given. Its reads and writes are not run: the cells
that do I/O are the first code cells and the last, and the transformation is the cells
in between, which only use ``F`` and the three frames ``jogadores``,
``participacoes`` and ``partidas``.

A mutant is the prototype with one realistic mistake planted by a text edit of those
cells; a student's unit tests must fail on every mutant (:data:`MUTANTS`), which is how
the checker tells tests that test from tests that only run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sandbox.course.checks import COURSE_DIR, CourseError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

NOTEBOOK = COURSE_DIR / "exercise-1" / "start" / "retencao_prototipo.ipynb"
# The silver tables the prototype reads, by the name its cells give them.
FRAMES = {"dim_player": "jogadores", "fct_match_player": "participacoes", "fct_match": "partidas"}
RESULT = "retencao"


@dataclass(frozen=True)
class Mutant:
    """One planted mistake: the edits to the prototype's cells and the case that catches it."""

    name: str
    edits: tuple[tuple[str, str], ...]
    case: str  # catalogue key of the test case that tells it apart


MUTANTS = (
    Mutant(
        "counts matches, not players",
        (("    .distinct()\n", "\n"), ('F.countDistinct("player_id")', 'F.count("player_id")')),
        "ex1.case.several_matches",
    ),
    Mutant(
        "ignores the year in the month difference",
        (
            (
                '(F.year("activity_month") * 12 + F.month("activity_month"))',
                'F.month("activity_month")',
            ),
            ('(F.year("cohort_month") * 12 + F.month("cohort_month"))', 'F.month("cohort_month")'),
        ),
        "ex1.case.year_boundary",
    ),
    Mutant(
        "sizes the cohort by the players who played",
        (
            (
                'tamanho = coorte.groupBy("cohort_month")',
                'tamanho = coorte.join(participacoes.select("player_id").distinct(), "player_id")'
                '.groupBy("cohort_month")',
            ),
        ),
        "ex1.case.never_played",
    ),
    Mutant(
        "keeps activity before the signup",
        (('    .where("months_since_signup >= 0")\n', ""),),
        "ex1.case.before_signup",
    ),
    Mutant(
        "starts counting months at 1",
        (('.cast("int"),', '.cast("int") + 1,'),),
        "ex1.case.month_zero",
    ),
)


@cache
def prototype_source(mutant: str | None = None) -> str:
    """The prototype's transformation cells as one program, with ``mutant``'s edits."""
    try:
        book = json.loads(NOTEBOOK.read_text())
    except (OSError, ValueError) as exc:
        raise CourseError(
            f"course: the prototype notebook {NOTEBOOK} cannot be read: {exc}"
        ) from exc
    cells = ["".join(c["source"]) for c in book["cells"] if c["cell_type"] == "code"]
    body = [c for c in cells if "spark.read" not in c and ".write" not in c and "builder" not in c]
    source = "\n".join(body).replace(f"{RESULT}.show(50)", "")
    if RESULT not in source:
        raise CourseError(f"course: {NOTEBOOK.name} no longer computes `{RESULT}`")
    if mutant is None:
        return source
    (chosen,) = [m for m in MUTANTS if m.name == mutant]
    for old, new in chosen.edits:
        if old not in source:
            raise CourseError(f"course: mutant {mutant!r} no longer applies to the prototype")
        source = source.replace(old, new)
    return source


def run_prototype(frames: dict[str, DataFrame], mutant: str | None = None) -> DataFrame:
    """The prototype's result (or ``mutant``'s) on ``frames``: silver table name -> frame."""
    from pyspark.sql import functions as F

    scope: dict[str, Any] = {"F": F, **{FRAMES[t]: frames[t] for t in FRAMES}}
    # our own notebook, the one the students start from
    exec(compile(prototype_source(mutant), str(NOTEBOOK), "exec"), scope)
    return scope[RESULT]
