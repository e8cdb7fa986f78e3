"""Exercise 2: CI/CD for the case's dbt project, graded by what a reviewer would look at.

The student's folder is a repository root: ``dbt/`` (the project) and
``.github/workflows/`` (the CI/CD). A workflow must lint the SQL, build the project
against a throwaway warehouse, run slim CI (``state:modified+``) on pull requests and
deploy on main; its steps must call a script or recipe of the repository, so the same
steps run on a laptop. Commands are read from the workflow and from the files its
steps call.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sandbox.course.checks import Check, CourseError, Job, Workflow, workflows

_LINT = re.compile(r"sqlfluff\s+lint|sqlfmt\s+--check")
_THROWAWAY = re.compile(
    r"sandbox\s+(up|demo)|create\s+(database|schema)|createdb|ci-db\s+create|drop_ci_schema",
    re.IGNORECASE,
)
_PROD_TARGET = re.compile(r"--target\s+prod")


def _dbt_build_lines(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if "dbt" in line and re.search(r"(^|\s)build(\s|$)", line) and "docker" not in line
    ]


def _ranked(flows: list[Workflow], word: str) -> list[tuple[Workflow, Job]]:
    """Every job, those whose own steps name ``word`` first (a called script holds all steps)."""
    pairs = [(f, j) for f in flows for j in f.jobs]
    return sorted(pairs, key=lambda fj: word not in fj[1].run)


def _flows(root: Path) -> tuple[list[Workflow], str | None]:
    try:
        flows = [f for f in workflows(root) if any("dbt" in j.text for j in f.jobs)]
    except CourseError as exc:
        return [], str(exc)
    if not flows:
        return [], (
            f"no workflow in {root}/.github/workflows runs dbt: add "
            ".github/workflows/dbt.yml (lint, build, slim CI, deploy)"
        )
    return flows, None


def check_dbt_project(root: Path) -> Check:
    name = "dbt project"
    project = root / "dbt" / "dbt_project.yml"
    if not project.is_file():
        return Check(
            name,
            False,
            f"no dbt project: {project} is missing (the case's dbt "
            "project lives in dbt/; `sandbox course start 2` copies one to work on)",
        )
    models = sorted((root / "dbt" / "models").rglob("*.sql"))
    if not models:
        return Check(name, False, f"{root / 'dbt' / 'models'} has no .sql model")
    return Check(name, True, f"dbt/ with {len(models)} models")


def check_workflow(root: Path) -> Check:
    name = "workflow"
    flows, problem = _flows(root)
    if problem:
        return Check(name, False, problem)
    flow = flows[0]
    missing = [t for t in ("pull_request", "push") if t not in flow.triggers]
    if missing:
        return Check(
            name,
            False,
            f"{flow.path.name} does not run on {missing}: CI runs on "
            "pull requests, CD on pushes to main",
        )
    return Check(name, True, f"{flow.path.name}: jobs {[j.name for j in flow.jobs]}")


def check_lint(root: Path) -> Check:
    name = "lint"
    flows, problem = _flows(root)
    if problem:
        return Check(name, False, problem)
    if any(_LINT.search(j.text) for f in flows for j in f.jobs):
        return Check(name, True, "the SQL is linted (sqlfluff)")
    return Check(
        name,
        False,
        "no lint step: run `sqlfluff lint` on the models (dbt templater, "
        "Redshift dialect) before building",
    )


def check_build_on_throwaway_warehouse(root: Path) -> Check:
    name = "build on a throwaway warehouse"
    flows, problem = _flows(root)
    if problem:
        return Check(name, False, problem)
    builders = [j for _, j in _ranked(flows, "build") if _dbt_build_lines(j.text)]
    if not builders:
        return Check(name, False, "no `dbt build` step: build (run + test) the project in CI")
    for job in builders:
        if any(_PROD_TARGET.search(line) for line in _dbt_build_lines(job.text)):
            return Check(
                name,
                False,
                f"job {job.name!r} builds with --target prod: CI must "
                "never write to production; build on a throwaway warehouse",
            )
        if job.spec.get("services") or _THROWAWAY.search(job.text):
            return Check(name, True, f"job {job.name!r} builds on a warehouse of its own")
    return Check(
        name,
        False,
        f"job {builders[0].name!r} runs dbt build on no warehouse of its "
        "own: start one on the runner (a `services: postgres` container, or "
        "`uv run sandbox demo`) or create a throwaway schema and drop it after",
    )


def check_slim_ci(root: Path) -> Check:
    name = "slim CI"
    flows, problem = _flows(root)
    if problem:
        return Check(name, False, problem)
    for flow, job in _ranked(flows, "slim"):
        if "state:modified+" in job.text and "--state" in job.text:
            if "pull_request" not in flow.triggers:
                return Check(
                    name,
                    False,
                    f"{flow.path.name} runs slim CI but not on pull_request, where it saves time",
                )
            defer = " with --defer" if "--defer" in job.text else " (add --defer)"
            return Check(name, True, f"job {job.name!r} builds state:modified+{defer}")
    return Check(
        name,
        False,
        "no slim CI: on pull requests build only what changed, "
        "`dbt build --select state:modified+ --defer --state <production manifest>`",
    )


def check_deploy_on_main(root: Path) -> Check:
    name = "deploy on main"
    flows, problem = _flows(root)
    if problem:
        return Check(name, False, problem)
    for flow in flows:
        for job in flow.jobs:
            if "deploy" not in job.name.lower() and "deploy" not in job.run.lower():
                continue
            cond = job.condition.replace(" ", "")
            on_main = (
                "refs/heads/main" in cond
                or "ref_name=='main'" in cond
                or ("push" in cond and flow.push_branches() == ["main"])
            )
            if not on_main:
                return Check(
                    name,
                    False,
                    f"job {job.name!r} deploys without `if:` on main "
                    "(e.g. `if: github.ref == 'refs/heads/main'`): a pull request "
                    "must never deploy",
                )
            if not job.spec.get("needs"):
                return Check(
                    name,
                    False,
                    f"job {job.name!r} deploys without `needs:` the "
                    "build: deploy only what passed CI",
                )
            return Check(name, True, f"job {job.name!r} deploys on main after {job.spec['needs']}")
    return Check(
        name,
        False,
        "no deploy job: on a push to main, build the dbt image, register "
        "the ECS task definition and update the state machine",
    )


def check_runs_locally(root: Path) -> Check:
    """The workflow's steps call a script or recipe of the repository holding the steps."""
    name = "same steps run locally"
    flows, problem = _flows(root)
    if problem:
        return Check(name, False, problem)
    scripts = {k: v for f in flows for k, v in f.scripts.items()}
    if not scripts:
        return Check(
            name,
            False,
            "the workflow's steps are inline YAML: put them in a script "
            "(e.g. dbt/ci/run.sh lint|build|slim|deploy) that the workflow and your "
            "laptop both call",
        )
    text = "\n".join(scripts.values())
    lacking = [
        what
        for what, found in (
            ("lint", _LINT.search(text)),
            ("build", _dbt_build_lines(text)),
            ("slim CI", "state:modified+" in text),
        )
        if not found
    ]
    if lacking:
        return Check(
            name,
            False,
            f"{', '.join(scripts)} lack(s) {lacking}: the script the "
            "workflow calls should hold every step, so a laptop runs the same ones",
        )
    for script in (s for s in scripts if s.endswith(".sh")):
        proc = subprocess.run(["bash", "-n", str(root / script)], capture_output=True, text=True)
        if proc.returncode != 0:
            return Check(name, False, f"{script} has a syntax error: {proc.stderr.strip()[:200]}")
    return Check(name, True, f"the workflow calls {', '.join(sorted(scripts))}")


CHECKS = [
    check_dbt_project,
    check_workflow,
    check_lint,
    check_build_on_throwaway_warehouse,
    check_slim_ci,
    check_deploy_on_main,
    check_runs_locally,
]
