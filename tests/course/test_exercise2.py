"""Exercise 2's checks on variants of the solution: each mistake gets its own message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.course.checks import COURSE_DIR
from sandbox.course.exercise2 import CHECKS

SOLUTION = COURSE_DIR / "exercise-2" / "solution"
WORKFLOW = ".github/workflows/dbt.yml"
SCRIPT = "dbt/ci/run.sh"

# (file, text in the solution, replacement, the failing check, words of its message)
MISTAKES = {
    # A deploy job with no condition would deploy every pull request.
    "deploy on every event": (
        WORKFLOW,
        "    if: github.event_name == 'push' && github.ref == 'refs/heads/main'\n",
        "",
        "deploy on main",
        "without `if:` on main",
    ),
    # Without needs:, deploy races the build and ships what may fail.
    "deploy before the build": (
        WORKFLOW,
        "    needs: build\n    if: github.event_name == 'push'",
        "    if: github.event_name == 'push'",
        "deploy on main",
        "without `needs:` the build",
    ),
    # CI writing to the production target is the mistake the exercise is about.
    "build on production": (
        SCRIPT,
        "dbt build --target dev",
        "dbt build --target prod",
        "build on a throwaway warehouse",
        "--target prod",
    ),
    "no slim CI": (SCRIPT, "--select state:modified+ ", "", "slim CI", "no slim CI"),
    "no lint": (SCRIPT, "sqlfluff lint models", "echo skipped", "lint", "no lint step"),
    # Inline YAML runs only on GitHub: the laptop cannot run the same steps.
    "inline steps": (
        WORKFLOW,
        "uv run dbt/ci/run.sh",
        "uv run dbt",
        "same steps run locally",
        "steps are inline YAML",
    ),
    "script does not parse": (SCRIPT, "esac\n", "", "same steps run locally", "syntax error"),
}


def grade(root: Path) -> dict:
    return {c.name: c for c in (check(root) for check in CHECKS)}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_mistake_fails_its_check_with_what_to_do(tmp_path: Path, mistake: str) -> None:
    file, old, new, check_name, words = MISTAKES[mistake]
    work = tmp_path / "work"
    shutil.copytree(SOLUTION, work)
    text = (work / file).read_text()
    assert old in text, f"the solution no longer has {old!r}: update the case"
    (work / file).write_text(text.replace(old, new))
    checks = grade(work)
    assert not checks[check_name].passed
    assert words in checks[check_name].message
    failed = [name for name, c in checks.items() if not c.passed]
    assert check_name in failed


def test_workflow_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(SOLUTION, work)
    (work / WORKFLOW).write_text("jobs: [unclosed\n")
    check = grade(work)["workflow"]
    assert not check.passed and "dbt.yml is not valid YAML" in check.message
