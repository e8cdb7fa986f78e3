"""Exercise 1, graded by running the work: the transform, the tests, the task.

- The transform's result must equal the prototype's (:mod:`sandbox.course.prototype`)
  as a multiset of rows (a fan-out that repeats rows fails) on the committed sample, on
  the generated edge cases (a year boundary, players who never play, activity before
  the signup, a month with no activity) and on a seeded random lake.
- The student's tests must pass, and then fail on each planted mistake
  (:mod:`sandbox.course.mutation_plugin`): tests that assert nothing catch none.
- The pipeline task must run after silver; run on the sample, it must read silver tables
  only and write what the transform returns under gold, the same when run twice
  (:mod:`sandbox.course.task_run`).

One in-process Sail session serves every check of a grading (:func:`lab`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from datetime import time as dt_time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sandbox.course.catalogue import t
from sandbox.course.checks import Check, CourseError
from sandbox.course.exercise1 import TABLES, Transform, find_transform, test_files
from sandbox.course.prototype import MUTANTS, run_prototype

_PYTEST_TIMEOUT_S = 600
_RANDOM_SEED = 20261203


class Lab:
    """The session and the lakes a grading runs on, made on first use."""

    def __init__(self) -> None:
        self._stack: Any = None
        self.spark: Any = None
        self._lakes: dict[str, dict[str, Any]] = {}
        self.cache: dict[Any, Any] = {}  # what several checks of one grading share

    def open(self) -> Any:
        if self.spark is None:
            from contextlib import ExitStack

            from sandbox.platform import in_process_sail

            self._stack = ExitStack()
            self.spark = self._stack.enter_context(in_process_sail(quiet=True))
        return self.spark

    def lakes(self) -> dict[str, dict[str, Any]]:
        """The silver frames to compare on: the sample, the edge cases, a random lake."""
        if not self._lakes:
            from sandbox.course.sample_lake import edge_case_silver, random_silver, sample_silver

            spark = self.open()
            sample = sample_silver(spark)
            self._lakes = {
                "sample": sample,
                "edge": edge_case_silver(spark, sample),
                "random": random_silver(spark, sample, _RANDOM_SEED),
            }
        return self._lakes

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self.spark = None
        self._lakes = {}
        self.cache = {}


_LAB = Lab()


@contextmanager
def lab() -> Iterator[Lab]:
    """The grading's session, stopped at the end of the block."""
    try:
        yield _LAB
    finally:
        _LAB.close()


def _plain(value: Any) -> Any:
    """A value as the grade compares it: representation aside, the number or the day.

    A rate as ``decimal(6,4)`` or as a double, a count as int or long, a month as a date
    or as a timestamp at midnight (``date_trunc`` gives one) are the same answer; the
    numbers are compared to 4 decimals, the prototype's precision.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float):
        # half up to 4 places, as the prototype's cast to decimal(6,4) rounds (Python's
        # round() would take 0.03125 to even, 0.0312, where the prototype has 0.0313)
        exact = value if isinstance(value, Decimal) else Decimal(repr(value))
        return str(exact.quantize(Decimal("0.0001"), ROUND_HALF_UP))
    if isinstance(value, datetime) and value.time() == dt_time(0):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def result_rows(df) -> list[str]:
    """A DataFrame's rows as sorted JSON strings, comparable across runs and engines."""
    return sorted(
        json.dumps({k: _plain(v) for k, v in r.asDict().items()}, sort_keys=True)
        for r in df.collect()
    )


def compare(got: list[str], want: list[str]) -> str | None:
    """None if equal as multisets; else what differs, as one line."""
    have, need = Counter(got), Counter(want)
    if have == need:
        return None
    missing, extra = need - have, have - need
    example = (
        t("ex1.result.missing", row=next(iter(missing)))
        if missing
        else t("ex1.result.extra", row=next(iter(extra)))
    )
    return t(
        "ex1.result.differs",
        got=len(got),
        want=len(want),
        missing=sum(missing.values()),
        extra=sum(extra.values()),
        example=example,
    )


def check_same_result_as_prototype(root: Path) -> Check:
    """The transform against the prototype on every lake of the lab, as multisets."""
    name = "same result as the prototype"
    try:
        found = find_transform(root)
    except CourseError:
        return Check(name, False, t("ex1.needs_module"))
    unknown = [p for p in found.parameters() if p not in TABLES]
    missing = [table for table in TABLES if table not in found.parameters()]
    if unknown or missing:
        return Check(
            name,
            False,
            t(
                "ex1.result.params",
                name=found.name,
                unknown=unknown,
                missing=missing,
                tables=", ".join(TABLES),
            ),
        )
    counts = {}
    for lake, frames in _LAB.lakes().items():
        want = result_rows(run_prototype(frames))
        try:
            out = found.function(**{p: frames[p] for p in found.parameters()})
            columns = list(out.columns)
            got = result_rows(out)
        except Exception as exc:  # the student's code: report what Spark said
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            return Check(
                name,
                False,
                t(
                    "ex1.result.fails",
                    name=found.name,
                    lake=t(f"ex1.lake.{lake}"),
                    error=f"{type(exc).__name__}: {first}",
                ),
            )
        expected_columns = list(run_prototype(frames).columns)
        if sorted(columns) != sorted(expected_columns):
            return Check(
                name,
                False,
                t("ex1.result.columns", name=found.name, got=columns, want=expected_columns),
            )
        problem = compare(got, want)
        if problem:
            return Check(
                name,
                False,
                t("ex1.result.wrong", name=found.name, lake=t(f"ex1.lake.{lake}"), problem=problem),
            )
        counts[lake] = len(want)
    return Check(
        name,
        True,
        t("ex1.result.ok", sample=counts["sample"], edge=counts["edge"], random=counts["random"]),
    )


def check_unit_tests(root: Path) -> Check:
    """The student's tests pass, then fail on every mutant of the prototype."""
    name = "unit tests"
    tests = test_files(root)
    if not tests:
        return Check(name, False, t("ex1.tests.none", root=root))
    try:
        found: Transform | None = find_transform(root)
    except CourseError:
        found = None
    with tempfile.TemporaryDirectory(prefix="course-mutants-") as tmp:
        report = Path(tmp) / "report.json"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        }
        if found is not None:
            env["SANDBOX_COURSE_MUTATE"] = json.dumps(
                {
                    "file": str(found.path),
                    "function": found.name,
                    "root": str(root),
                    "tables": {p: p for p in found.parameters()},
                    "report": str(report),
                }
            )
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "sandbox.course.mutation_plugin",
                *[str(p.relative_to(root)) for p in tests],
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=_PYTEST_TIMEOUT_S,
        )
        verdict = json.loads(report.read_text()) if report.is_file() else None
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else proc.stderr.strip()[-300:]
    if proc.returncode == 5:
        return Check(
            name, False, t("ex1.tests.none_collected", files=", ".join(p.name for p in tests))
        )
    if proc.returncode != 0:
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))][:3]
        return Check(name, False, t("ex1.tests.fail", summary=summary, failed="; ".join(failed)))
    if found is None or verdict is None:
        return Check(name, False, t("ex1.needs_module"))
    if not verdict["imported"]:
        return Check(name, False, t("ex1.tests.not_called", name=found.name, file=found.path.name))
    survivors = [m for m in MUTANTS if verdict["mutants"].get(m.name) is None]
    if survivors:
        cases = "; ".join(t(m.case) for m in survivors)
        return Check(
            name,
            False,
            t(
                "ex1.tests.survivors",
                summary=summary,
                caught=len(MUTANTS) - len(survivors),
                total=len(MUTANTS),
                cases=cases,
            ),
        )
    return Check(name, True, t("ex1.tests.ok", summary=summary, total=len(MUTANTS)))
