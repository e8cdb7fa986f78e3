"""Exercise 2's checks on variants of the solution: each mistake fails its check with its
message, and right work written in another style passes every check.

Behaviours the checker emulates, from the GitHub Actions docs (docs.github.com/en/actions):
"Workflow syntax" (on.push.branches, jobs.<job_id>.needs, jobs.<job_id>.if,
continue-on-error), "Creating a composite action" and "Reusing workflows".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.course.catalogue import speaking
from sandbox.course.checks import COURSE_DIR
from sandbox.course.exercise2 import CHECKS
from sandbox.course.workflow_model import PULL_REQUEST, PUSH_MAIN, evaluate, load_repository, runs

SOLUTION = COURSE_DIR / "exercise-2" / "solution"
START = COURSE_DIR / "exercise-2" / "start"
WORKFLOW = ".github/workflows/dbt.yml"
SCRIPT = "dbt/ci/run.sh"
DEPLOY_IF = "    if: github.event_name == 'push' && github.ref == 'refs/heads/main'\n"

# name -> ([(file, text in the solution, replacement)], failing check, words of its message)
MISTAKES: dict[str, tuple[list[tuple[str, str, str]], str, str]] = {
    "deploy on every event": ([(WORKFLOW, DEPLOY_IF, "")], "deploy on main", "pull request"),
    # `||` lets pull requests in even though refs/heads/main is in the expression.
    "deploy guard with ||": (
        [
            (
                WORKFLOW,
                DEPLOY_IF,
                "    if: github.ref == 'refs/heads/main' || github.base_ref == 'main'\n",
            )
        ],
        "deploy on main",
        "can deploy on a pull request",
    ),
    "deploy also on pull_request": (
        [
            (
                WORKFLOW,
                DEPLOY_IF,
                "    if: github.ref == 'refs/heads/main' || github.event_name == 'pull_request'\n",
            )
        ],
        "deploy on main",
        "can deploy on a pull request",
    ),
    "deploy before the build": (
        [
            (
                WORKFLOW,
                "    needs: build\n    if: github.event_name == 'push'",
                "    if: github.event_name == 'push'",
            )
        ],
        "deploy on main",
        "without `needs:` the build",
    ),
    "deploy needs only lint": (
        [
            (
                WORKFLOW,
                "    needs: build\n    if: github.event_name == 'push'",
                "    needs: lint\n    if: github.event_name == 'push'",
            )
        ],
        "deploy on main",
        "without `needs:` the build",
    ),
    "build on production": (
        [(SCRIPT, "dbt build --target dev", "dbt build --target prod")],
        "build on a throwaway warehouse",
        "--target prod",
    ),
    "prod through DBT_TARGET": (
        [
            (
                WORKFLOW,
                "permissions:\n  contents: read\n  actions: read\n",
                "permissions:\n  contents: read\n  actions: read\n\nenv:\n  DBT_TARGET: prod\n",
            ),
            (SCRIPT, "dbt build --target dev", "dbt build"),
        ],
        "build on a throwaway warehouse",
        "DBT_TARGET=prod",
    ),
    "no throwaway warehouse": (
        [
            (
                WORKFLOW,
                "      - run: uv run sandbox demo --scale 0.02\n"
                "      - run: uv run dbt/ci/run.sh build",
                "      - run: uv run dbt/ci/run.sh build",
            ),
            (
                SCRIPT,
                "    throwaway_schema\n    dbt build --target dev",
                "    dbt build --target dev",
            ),
        ],
        "build on a throwaway warehouse",
        "no warehouse of its own",
    ),
    "no slim CI": ([(SCRIPT, "--select state:modified+ ", "")], "slim CI", "no slim CI"),
    "slim CI only echoed": (
        [
            (
                SCRIPT,
                "    dbt build --select state:modified+ --defer",
                "    echo dbt build --select state:modified+ --defer",
            )
        ],
        "slim CI",
        "only printed",
    ),
    "slim CI without --defer": (
        [(SCRIPT, "state:modified+ --defer ", "state:modified+ ")],
        "slim CI",
        "without --defer",
    ),
    # The old checker found `--state` in `--state-machine-arn` of the deploy step.
    "slim CI without --state": (
        [(SCRIPT, ' --defer --state "$state"', " --defer")],
        "slim CI",
        "without --state",
    ),
    "no lint": ([(SCRIPT, "sqlfluff lint models", "echo skipped")], "lint", "no lint step"),
    "lint || true": (
        [(SCRIPT, "sqlfluff lint models", "sqlfluff lint models || true")],
        "lint",
        "cannot fail the job",
    ),
    "lint continue-on-error": (
        [
            (
                WORKFLOW,
                "      - run: uv run dbt/ci/run.sh lint\n",
                "      - run: uv run dbt/ci/run.sh lint\n        continue-on-error: true\n",
            )
        ],
        "lint",
        "cannot fail the job",
    ),
    "lint echoed": (
        [(SCRIPT, "sqlfluff lint models", 'echo "sqlfluff lint models"')],
        "lint",
        "only printed",
    ),
    "secret in the workflow": (
        [
            (
                WORKFLOW,
                "          aws-region: us-east-1\n",
                "          aws-region: us-east-1\n"
                "          aws-access-key-id: AKIAIOSFODNN7EXAMPLE\n",
            )
        ],
        "no secrets",
        "dbt.yml:",
    ),
    "password in profiles": (
        [
            (
                "dbt/profiles.yml",
                "password: \"{{ env_var('DBT_PASSWORD') }}\"",
                "password: s3cr3t-Pr0d-pass",
            )
        ],
        "no secrets",
        "profiles.yml:20",
    ),
    # The build job calls no script; the old checker credited it with the lint job's.
    "build credited with another job's script": (
        [(WORKFLOW, "      - run: uv run dbt/ci/run.sh build\n", "      - run: echo building\n")],
        "deploy on main",
        "without `needs:` the build",
    ),
    "inline steps": (
        [(WORKFLOW, "uv run dbt/ci/run.sh", "uv run dbt")],
        "same steps run locally",
        "steps are inline YAML",
    ),
    "script does not parse": ([(SCRIPT, "esac\n", "")], "same steps run locally", "syntax error"),
    # always() runs the job whatever its needs ended in: a failed build would deploy
    "deploy with always()": (
        [
            (
                WORKFLOW,
                "    if: github.event_name == 'push'",
                "    if: always() && github.event_name == 'push'",
            )
        ],
        "deploy on main",
        "even when the build it needs failed",
    ),
    # a literal default of env_var writes the password in the file all the same
    "password as env_var's default": (
        [
            (
                "dbt/profiles.yml",
                "password: \"{{ env_var('DBT_PASSWORD') }}\"",
                "password: \"{{ env_var('DBT_PASSWORD', 'Pr0d-Redsh1ft!2026') }}\"",
            )
        ],
        "no secrets",
        "env_var('DBT_PASSWORD', <a literal default>)",
    ),
    # `bash -e` without pipefail: the build's failure is tee's success
    "build piped to tee": (
        [
            (
                WORKFLOW,
                "      - run: uv run dbt/ci/run.sh build\n",
                "      - run: uv run dbt/ci/run.sh build | tee build.log\n",
            )
        ],
        "deploy on main",
        "without `needs:` the build",
    ),
}

MAKEFILE = """\
.PHONY: lint build slim deploy
lint:
\tbash dbt/ci/run.sh lint
build:
\tbash dbt/ci/run.sh build
slim:
\tbash dbt/ci/run.sh slim prod-state
deploy:
\tbash dbt/ci/run.sh deploy
"""
JUSTFILE = """\
# the CI steps
ci STEP *ARGS:
    bash dbt/ci/run.sh {{STEP}} {{ARGS}}
"""
ACTION = """\
name: dbt step
inputs:
  step: {required: true}
runs:
  using: composite
  steps:
    - run: uv run dbt/ci/run.sh ${{ inputs.step }}
      shell: bash
"""
REUSABLE = """\
on:
  workflow_call:
    inputs:
      step: {type: string, required: true}
jobs:
  run:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: uv run sandbox demo --scale 0.02
      - run: uv run dbt/ci/run.sh ${{ inputs.step }}
"""


def _split_cd(work: Path) -> None:
    """CI (pull requests) and CD (push to main, `branches: [main]` only) in two files."""
    text = (work / WORKFLOW).read_text()
    head, deploy = text.split("  deploy:\n")
    (work / WORKFLOW).write_text(head)
    cd = head.split("jobs:\n")[0].replace(
        'on:\n  pull_request:\n    paths: ["dbt/**", ".github/workflows/dbt.yml"]\n', "on:\n"
    )
    build = head.split("  build:\n")[1].split("  slim-ci:\n")[0]
    deploy = deploy.replace(DEPLOY_IF, "")
    (work / ".github/workflows/cd.yml").write_text(
        f"{cd}jobs:\n  build:\n{build}  deploy:\n{deploy}"
    )


def _make(work: Path) -> None:
    (work / "Makefile").write_text(MAKEFILE)
    text = (work / WORKFLOW).read_text()
    for step in ("lint", "build", "deploy"):
        text = text.replace(f"uv run dbt/ci/run.sh {step}\n", f"make {step}\n")
    (work / WORKFLOW).write_text(text.replace("uv run dbt/ci/run.sh slim prod-state", "make slim"))


def _just(work: Path) -> None:
    (work / "justfile").write_text(JUSTFILE)
    text = (work / WORKFLOW).read_text()
    (work / WORKFLOW).write_text(text.replace("uv run dbt/ci/run.sh ", "just ci "))


def _composite(work: Path) -> None:
    (work / ".github/actions/dbt-step").mkdir(parents=True)
    (work / ".github/actions/dbt-step/action.yml").write_text(ACTION)
    text = (work / WORKFLOW).read_text()
    for step in ("lint", "build", "deploy"):
        text = text.replace(
            f"      - run: uv run dbt/ci/run.sh {step}\n",
            f"      - uses: ./.github/actions/dbt-step\n        with:\n          step: {step}\n",
        )
    (work / WORKFLOW).write_text(text)


def _reusable(work: Path) -> None:
    (work / ".github/workflows/dbt-step.yml").write_text(REUSABLE)
    text = (work / WORKFLOW).read_text()
    build = text.split("  build:\n")[1].split("  slim-ci:\n")[0]
    call = "    needs: lint\n    uses: ./.github/workflows/dbt-step.yml\n"
    call += "    with:\n      step: build\n\n"
    (work / WORKFLOW).write_text(text.replace(build, call))


def _push_branches_only(work: Path) -> None:
    _split_cd(work)
    text = (work / ".github/workflows/cd.yml").read_text()
    assert "branches: [main]" in text and "pull_request" not in text


def _edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` in ``path``, which must hold it (else the case is out of date)."""
    text = path.read_text()
    assert old in text, f"the solution no longer has {old!r} in {path.name}: update the case"
    path.write_text(text.replace(old, new))


def _tee_with_bash(work: Path) -> None:
    # `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`: the pipe still fails
    _edit(
        work / WORKFLOW,
        "      - run: uv run dbt/ci/run.sh build\n",
        "      - run: uv run dbt/ci/run.sh build | tee build.log\n        shell: bash\n",
    )


def _build_in_docker(work: Path) -> None:
    _edit(
        work / SCRIPT,
        "    dbt build --target dev --target-path target/ci-build",
        '    docker run --rm --network host -v "$PWD:/dbt" -w /dbt lakehouse-dbt:ci \\\n'
        "        dbt build --target dev --target-path target/ci-build",
    )


def _script_without_set_e(work: Path) -> None:
    # each step's dbt or sqlfluff call is its function's last command: its status is
    # the script's, set -e or not
    path = work / SCRIPT
    text = path.read_text()
    assert "set -euo pipefail\n" in text
    path.write_text(text.replace("set -euo pipefail\n", ""))


RIGHT_WORK = {
    "a pipe to tee under shell: bash": _tee_with_bash,
    "dbt build in the project's image": _build_in_docker,
    "a script without set -e": _script_without_set_e,
    "CI and CD in two workflow files": _split_cd,
    "deploy guarded by push branches [main] alone": _push_branches_only,
    "steps in a Makefile": _make,
    "steps in a justfile": _just,
    "a composite action": _composite,
    "a reusable workflow": _reusable,
}


def grade(root: Path) -> dict:
    return {c.name: c for c in (check(root) for check in CHECKS)}


def _copy(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(SOLUTION, work)
    return work


def test_the_solution_passes_every_check() -> None:
    checks = grade(SOLUTION)
    assert all(c.passed for c in checks.values()), {n: c.message for n, c in checks.items()}


def test_the_start_fails_with_what_to_do() -> None:
    checks = grade(START)
    assert checks["dbt project"].passed
    for name in ("workflow", "lint", "slim CI", "deploy on main"):
        assert not checks[name].passed and "add .github/workflows/dbt.yml" in checks[name].message


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_mistake_fails_its_check_with_what_to_do(tmp_path: Path, mistake: str) -> None:
    edits, check_name, words = MISTAKES[mistake]
    work = _copy(tmp_path)
    for file, old, new in edits:
        _edit(work / file, old, new)
    checks = grade(work)
    assert not checks[check_name].passed, checks[check_name].message
    assert words in checks[check_name].message


@pytest.mark.parametrize("style", RIGHT_WORK, ids=list(RIGHT_WORK))
def test_right_work_in_another_style_passes(tmp_path: Path, style: str) -> None:
    work = _copy(tmp_path)
    RIGHT_WORK[style](work)
    checks = grade(work)
    failed = {n: c.message for n, c in checks.items() if not c.passed}
    assert not failed


def test_workflow_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    work = _copy(tmp_path)
    (work / WORKFLOW).write_text("jobs: [unclosed\n")
    check = grade(work)["workflow"]
    assert not check.passed and "dbt.yml is not valid YAML" in check.message


def test_messages_speak_the_students_language(tmp_path: Path) -> None:
    work = _copy(tmp_path)
    (work / SCRIPT).write_text(
        (work / SCRIPT).read_text().replace("sqlfluff lint models", "sqlfluff lint models || true")
    )
    with speaking("pt-BR"):
        check = grade(work)["lint"]
        assert check.title == "lint" and "não consegue falhar o job" in check.message
        assert grade(work)["deploy on main"].title == "deploy na main"


def test_the_model_reads_triggers_needs_and_commands() -> None:
    repo = load_repository(SOLUTION)
    jobs = {j.id: j for j in repo.jobs()}
    assert jobs["deploy"].needs == ["build"] and [j.id for j in repo.upstream(jobs["deploy"])] == [
        "build",
        "lint",
    ]
    assert {j.id for j, _ in runs(repo, "dbt", "build")} == {"build", "slim-ci"}
    assert {j.id for j, _ in runs(repo, "sqlfluff", "lint")} == {"lint"}


@pytest.mark.parametrize(
    ("expr", "on_pr", "on_main"),
    [
        ("github.ref == 'refs/heads/main'", False, True),
        ("${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}", False, True),
        ("github.ref == 'refs/heads/main' || github.event_name == 'pull_request'", True, True),
        ("github.ref_name == 'main'", False, True),
        ("startsWith(github.ref, 'refs/heads/main')", False, True),
        ("!cancelled() && github.event_name != 'pull_request'", False, True),
        ("contains(github.event.head_commit.message, 'deploy')", None, None),
    ],
)
def test_if_expressions_are_evaluated(expr: str, on_pr: bool | None, on_main: bool | None) -> None:
    assert evaluate(expr, PULL_REQUEST) is on_pr
    assert evaluate(expr, PUSH_MAIN) is on_main
