"""Exercise 2: CI/CD for the case's dbt project, graded from what the workflows really run.

The student's folder is a repository root: ``dbt/`` (the project) and
``.github/workflows/`` (the CI/CD). Every workflow is read into a model
(:mod:`sandbox.course.workflow_model`): triggers, the ``needs``/``if`` graph, and each
job's commands resolved through local composite actions, reusable workflows, scripts,
Makefile and justfile recipes. Each requirement is judged on those commands (argv, not
text): lint can fail the job, the build runs on a throwaway target, slim CI runs
``--select state:modified+ --defer --state``, deploy runs only on pushes to main after
the build, and no secret is written in the repository
(:mod:`sandbox.course.exercise2_secrets`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from sandbox.course.catalogue import t
from sandbox.course.checks import Check
from sandbox.course.exercise2_secrets import check_no_secrets
from sandbox.course.workflow_model import (
    PULL_REQUEST,
    PUSH_MAIN,
    PUSH_OTHER,
    Command,
    Job,
    Repository,
    dbt_args,
    load_repository,
    may_run,
)

_THROWAWAY = re.compile(
    r"sandbox\s+(up|demo)|create\s+(database|schema)|createdb|ci-db\s+create|ci-schema\s+check|drop_ci_schema"
    r"|docker\s+(run|compose\s+up).*postgres|pg_ctl|initdb|testcontainers",
    re.IGNORECASE,
)
_CI_TARGET = re.compile(r"^(ci|test|tests|pr|throwaway|tmp|temp|ephemeral)([_-]\w*)?$", re.I)
_PROD = re.compile(r"^prod(uction)?$", re.I)
_DEPLOY = re.compile(
    r"docker push|aws ecs register-task-definition|aws stepfunctions update-state-machine"
    r"|cloudformation deploy|sam deploy|cdk deploy|terraform apply"
)


def _repo(root: Path) -> tuple[Repository | None, str | None]:
    repo = load_repository(root)
    if repo.errors and not any(_dbt_jobs(repo)):
        file, line, error = repo.errors[0]
        return None, t("ex2.workflow.yaml", file=file, line=line, error=error)
    if not _dbt_jobs(repo):
        return None, t("ex2.workflow.none", folder=f"{root}/.github/workflows")
    return repo, None


def _dbt_jobs(repo: Repository) -> list[Job]:
    return [j for j in repo.jobs() if any(dbt_args(c) is not None for c in j.commands)]


def _files(repo: Repository) -> str:
    return ", ".join(f.rel for f in repo.workflows) or ".github/workflows/"


def check_dbt_project(root: Path) -> Check:
    name = "dbt project"
    project = root / "dbt" / "dbt_project.yml"
    if not project.is_file():
        return Check(name, False, t("ex2.project.missing", path=project))
    models = sorted((root / "dbt" / "models").rglob("*.sql"))
    if not models:
        return Check(name, False, t("ex2.project.no_models", path=root / "dbt" / "models"))
    return Check(name, True, t("ex2.project.ok", count=len(models)))


def actionlint(root: Path, files: list[str]) -> list[str] | None:
    """actionlint's errors on ``files`` as ``file:line: message``; None if not installed."""
    exe = shutil.which("actionlint")
    if exe is None or not files:
        return None if exe is None else []
    proc = subprocess.run(
        [exe, "-format", "{{json .}}", "-shellcheck=", "-pyflakes=", *files],
        cwd=root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        errors = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return [proc.stdout.strip()[:300] or proc.stderr.strip()[:300]] if proc.returncode else []
    return [f"{e.get('filepath')}:{e.get('line')}: {e.get('message')}" for e in errors or []]


def check_workflow(root: Path) -> Check:
    name = "workflow"
    repo = load_repository(root)
    if repo.errors:
        file, line, error = repo.errors[0]
        return Check(name, False, t("ex2.workflow.yaml", file=file, line=line, error=error))
    jobs = _dbt_jobs(repo)
    if not jobs:
        return Check(name, False, t("ex2.workflow.none", folder=f"{root}/.github/workflows"))
    problems = actionlint(root, [f.rel for f in repo.workflows])
    if problems:
        return Check(name, False, t("ex2.workflow.actionlint", problems="; ".join(problems[:3])))
    if not any(may_run(repo, j, PULL_REQUEST) for j in jobs):
        return Check(name, False, t("ex2.workflow.no_pr", files=_files(repo)))
    if not any(may_run(repo, j, PUSH_MAIN) for j in repo.jobs()):
        return Check(name, False, t("ex2.workflow.no_push", files=_files(repo)))
    note = t("ex2.workflow.no_actionlint") if problems is None else ""
    jobs_list = [j.id for j in repo.jobs()]
    return Check(name, True, t("ex2.workflow.ok", files=_files(repo), jobs=jobs_list, note=note))


def _printed(repo: Repository, pattern: str) -> Command | None:
    return next(
        (c for j in repo.jobs() for c in j.commands if c.printed and pattern in c.text()), None
    )


def _lints(cmd: Command) -> bool:
    words = cmd.words
    if cmd.printed or not words:
        return False
    head = Path(words[0]).name
    return (head == "sqlfluff" and "lint" in words[1:2]) or (
        head == "sqlfmt" and "--check" in words
    )


def check_lint(root: Path) -> Check:
    name = "lint"
    repo, problem = _repo(root)
    if repo is None:
        return Check(name, False, problem or "")
    found = [(j, c) for j in repo.jobs() for c in j.commands if _lints(c)]
    on_pr = [(j, c) for j, c in found if may_run(repo, j, PULL_REQUEST)]
    real = [(j, c) for j, c in on_pr if c.can_fail and "--nofail" not in c.argv]
    if real:
        job, cmd = real[0]
        return Check(name, True, t("ex2.lint.ok", where=cmd.where, job=job.id))
    if on_pr:
        return Check(name, False, t("ex2.lint.neutralised", where=on_pr[0][1].where))
    if found:
        job, cmd = found[0]
        return Check(name, False, t("ex2.lint.not_on_pr", where=cmd.where, job=job.id))
    printed = _printed(repo, "sqlfluff lint")
    if printed:
        return Check(name, False, t("ex2.lint.printed", where=printed.where))
    return Check(name, False, t("ex2.lint.none"))


def _selector(args: list[str]) -> str:
    out = []
    for i, word in enumerate(args):
        if word in {"-s", "--select", "-m", "--models", "--model"} and i + 1 < len(args):
            out.append(args[i + 1])
        elif word.startswith(("--select=", "--models=")):
            out.append(word.split("=", 1)[1])
    return " ".join(out)


def _slim(cmd: Command) -> bool:
    args = dbt_args(cmd)
    return args is not None and "state:modified" in _selector(args)


def _builds(cmd: Command) -> bool:
    args = dbt_args(cmd)
    return bool(args) and args[0] in {"build", "test"} and not _slim(cmd)  # type: ignore[index]


def _default_target(root: Path) -> str:
    try:
        data = yaml.safe_load((root / "dbt" / "profiles.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ""
    profile = next((v for v in data.values() if isinstance(v, dict) and "target" in v), {})
    return str(profile.get("target", ""))


def _target(cmd: Command, job: Job, default: str) -> tuple[str, str]:
    """The dbt target of ``cmd`` and how it is chosen (``--target x``, ``DBT_TARGET=x``)."""
    argv = cmd.argv
    for i, word in enumerate(argv):
        if word in {"--target", "-t"} and i + 1 < len(argv):
            return argv[i + 1], f"{word} {argv[i + 1]}"
        if word.startswith("--target="):
            return word.split("=", 1)[1], word
    env = {**job.env, **cmd.env}
    for c in job.commands:  # `export DBT_TARGET=prod`, `echo DBT_TARGET=prod >> $GITHUB_ENV`
        for word in c.argv:
            if word.startswith("DBT_TARGET="):
                env.setdefault("DBT_TARGET", word.split("=", 1)[1])
    if env.get("DBT_TARGET"):
        return env["DBT_TARGET"], f"DBT_TARGET={env['DBT_TARGET']}"
    return default, f"profiles.yml target: {default}"


def _throwaway(job: Job, target: str) -> str:
    if job.services:
        return f"services: {', '.join(job.services)}"
    for cmd in job.commands:
        if not cmd.printed and _THROWAWAY.search(cmd.text()):
            return cmd.text()[:60]
    if _CI_TARGET.match(target):
        return f"--target {target}"
    schema = {**job.env}.get("DBT_SCHEMA", "") + " ".join(
        w for c in job.commands for w in c.argv if w.startswith("DBT_SCHEMA=")
    )
    if re.search(r"ci|run_id|RUN_ID|pr_", schema):
        return "DBT_SCHEMA " + schema[:40]
    return ""


def check_build_on_throwaway_warehouse(root: Path) -> Check:
    name = "build on a throwaway warehouse"
    repo, problem = _repo(root)
    if repo is None:
        return Check(name, False, problem or "")
    default = _default_target(root)
    on_pr = [j for j in repo.jobs() if may_run(repo, j, PULL_REQUEST)]
    for job in on_pr:  # no dbt command of CI may reach production
        for cmd in job.commands:
            if dbt_args(cmd) is not None and not cmd.printed:
                target, how = _target(cmd, job, default)
                if _PROD.match(target):
                    return Check(
                        name, False, t("ex2.build.prod", where=cmd.where, job=job.id, how=how)
                    )
    builds = [(j, c) for j in on_pr for c in j.commands if _builds(c) and not c.printed]
    if not builds:
        return Check(name, False, t("ex2.build.none"))
    real = [(j, c) for j, c in builds if c.can_fail]
    if not real:
        return Check(name, False, t("ex2.build.neutralised", where=builds[0][1].where))
    for job, cmd in real:  # every build of CI, not only one, on a warehouse of its own
        if not _throwaway(job, _target(cmd, job, default)[0]):
            return Check(name, False, t("ex2.build.no_warehouse", where=cmd.where, job=job.id))
    job, cmd = real[0]
    how = _throwaway(job, _target(cmd, job, default)[0])
    return Check(name, True, t("ex2.build.ok", where=cmd.where, job=job.id, how=how))


def _defers(cmd: Command) -> tuple[bool, bool]:
    args = dbt_args(cmd) or []
    env = cmd.env
    defer = "--defer" in args or env.get("DBT_DEFER", "").lower() in {"1", "true"}
    state = any(
        (w == "--state" and i + 1 < len(args) and not args[i + 1].startswith("-"))
        or w.startswith("--state=")
        for i, w in enumerate(args)
    ) or bool(env.get("DBT_STATE") or env.get("DBT_DEFER_STATE"))
    return defer, state


def check_slim_ci(root: Path) -> Check:
    name = "slim CI"
    repo, problem = _repo(root)
    if repo is None:
        return Check(name, False, problem or "")
    found = [(j, c) for j in repo.jobs() for c in j.commands if _slim(c) and not c.printed]
    on_pr = [(j, c) for j, c in found if may_run(repo, j, PULL_REQUEST)]
    complete = [(j, c) for j, c in on_pr if all(_defers(c))]
    real = [(j, c) for j, c in complete if c.can_fail]
    if real:
        job, cmd = real[0]
        return Check(name, True, t("ex2.slim.ok", where=cmd.where, job=job.id))
    if complete:
        return Check(name, False, t("ex2.slim.neutralised", where=complete[0][1].where))
    if on_pr:
        cmd = on_pr[0][1]
        defer, state = _defers(cmd)
        missing = " and ".join(w for w, ok in (("--defer", defer), ("--state", state)) if not ok)
        return Check(name, False, t("ex2.slim.missing", where=cmd.where, missing=missing))
    if found:
        job, cmd = found[0]
        return Check(name, False, t("ex2.slim.not_on_pr", where=cmd.where, job=job.id))
    printed = _printed(repo, "state:modified")
    if printed:
        return Check(name, False, t("ex2.slim.printed", where=printed.where))
    return Check(name, False, t("ex2.slim.none"))


def _deploys(job: Job) -> bool:
    if "deploy" in job.id.lower() or "deploy" in str(job.spec.get("name", "")).lower():
        return True
    return any(
        not c.printed and (_DEPLOY.search(c.text()) or "deploy" in c.words[1:2])
        for c in job.commands
    )


def check_deploy_on_main(root: Path) -> Check:
    name = "deploy on main"
    repo, problem = _repo(root)
    if repo is None:
        return Check(name, False, problem or "")
    deploys = [j for j in repo.jobs() if _deploys(j)]
    if not deploys:
        return Check(name, False, t("ex2.deploy.none"))
    for job in deploys:
        where = job.where
        if job.condition:
            where = f"{job.workflow.rel}:{job.spec['__lines__'].get('if', (job.line,))[0]}"
        if may_run(repo, job, PULL_REQUEST):
            return Check(name, False, t("ex2.deploy.on_pr", where=where, job=job.id))
        if may_run(repo, job, PUSH_OTHER):
            return Check(name, False, t("ex2.deploy.on_branch", where=where, job=job.id))
        if not may_run(repo, job, PUSH_MAIN):
            return Check(name, False, t("ex2.deploy.never", where=where, job=job.id))
        upstream = repo.upstream(job)
        built = [c for j in upstream for c in j.commands if _builds(c) and c.can_fail]
        needs = [j.id for j in upstream] or "[]"
        if not built:
            return Check(
                name, False, t("ex2.deploy.needs", where=job.where, job=job.id, needs=needs)
            )
        # always() (or failure(), !cancelled()) runs a job whatever its needs ended in:
        # a failed build would still deploy ("Status check functions", GitHub's
        # workflow syntax: a job runs after its needs only if they succeeded, unless
        # its `if:` uses one of these)
        if re.search(r"\b(always|failure)\s*\(\s*\)|!\s*cancelled\s*\(", job.condition):
            return Check(name, False, t("ex2.deploy.always", where=where, job=job.id))
    job = deploys[0]
    return Check(name, True, t("ex2.deploy.ok", where=job.where, job=job.id, needs=job.needs))


def check_runs_locally(root: Path) -> Check:
    """The lint, build and slim CI commands live in a script or recipe, not in YAML."""
    name = "same steps run locally"
    repo, problem = _repo(root)
    if repo is None:
        return Check(name, False, problem or "")
    kinds = {"lint": _lints, "build": _builds, "slim CI": _slim}
    found = {
        kind: [c for j in repo.jobs() for c in j.commands if test(c) and not c.printed]
        for kind, test in kinds.items()
    }
    scripted = {c.file for cmds in found.values() for c in cmds if not _yaml(c.file)}
    if not scripted:
        return Check(name, False, t("ex2.local.inline"))
    lacking = {
        kind: cmds[0].where
        for kind, cmds in found.items()
        if cmds and all(_yaml(c.file) for c in cmds)
    }
    if lacking:
        wheres = ", ".join(lacking.values())
        return Check(name, False, t("ex2.local.lacking", lacking=", ".join(lacking), wheres=wheres))
    for script in sorted(f for f in scripted if f.endswith(".sh")):
        proc = subprocess.run(["bash", "-n", str(root / script)], capture_output=True, text=True)
        if proc.returncode != 0:
            error = proc.stderr.strip()[:200]
            return Check(name, False, t("ex2.local.syntax", file=script, error=error))
    return Check(name, True, t("ex2.local.ok", files=", ".join(sorted(scripted))))


def _yaml(file: str) -> bool:
    return file.endswith((".yml", ".yaml"))


CHECKS = [
    check_dbt_project,
    check_workflow,
    check_lint,
    check_build_on_throwaway_warehouse,
    check_slim_ci,
    check_deploy_on_main,
    check_runs_locally,
    check_no_secrets,
]
