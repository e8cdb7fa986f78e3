"""Exercise 1's wiring: the job as a pipeline task (run on the sample) or a state
machine, and the CI workflow that runs its tests."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from sandbox.course.catalogue import t
from sandbox.course.checks import Check, CourseError
from sandbox.course.exercise1 import Transform, find_transform, pipeline_tasks
from sandbox.course.exercise1_run import _LAB, compare, result_rows
from sandbox.course.prototype import run_prototype


def _after_silver(upstream: tuple[str, ...]) -> bool:
    """Whether a task with ``upstream`` runs after silver (directly or through gold...)."""
    from sandbox.orchestrate.pipeline import TASKS

    parents = {task.name: task.upstream for task in TASKS}
    todo, seen = list(upstream), set()
    while todo:
        name = todo.pop()
        if name == "silver":
            return True
        if name not in seen:
            seen.add(name)
            todo += parents.get(name, ())
    return False


def _task_verdict(task, found: Transform | None) -> Check:
    from sandbox.orchestrate import task_names
    from sandbox.platform import Settings

    name = "wired as a pipeline task"
    unknown = [u for u in task.upstream if u not in task_names()]
    if unknown:
        return Check(
            name, False, t("ex1.task.unknown", task=task.name, unknown=unknown, known=task_names())
        )
    if not task.upstream:
        return Check(name, False, t("ex1.task.no_upstream", task=task.name))
    if not _after_silver(task.upstream):
        return Check(
            name, False, t("ex1.task.before_silver", task=task.name, upstream=list(task.upstream))
        )
    if not callable(task.run):
        return Check(name, False, t("ex1.task.not_callable", task=task.name))
    from sandbox.course.task_run import run_task

    settings = Settings(_env_file=None)
    sample = _LAB.lakes()["sample"]
    # twice, as two days of its schedule: an append doubles the mart
    run = run_task(task, _LAB.open(), sample, settings, times=2)
    if run.refused:
        return Check(name, False, t("ex1.task.reads_other", task=task.name, path=run.refused))
    if run.unsupported:
        # another client than Spark's: read the code instead of running it
        source = inspect.getsource(task.run) if inspect.isfunction(task.run) else ""
        if found is not None and found.name in source:
            return Check(name, True, t("ex1.task.read_only", task=task.name, error=run.error))
        return Check(
            name,
            False,
            t("ex1.task.no_transform", task=task.name, name=found.name if found else "?"),
        )
    if run.error:
        return Check(name, False, t("ex1.task.fails", task=task.name, error=run.error))
    gold = settings.lake_uri("gold")
    written = {path: frame for path, frame in run.writes.items() if path.startswith(gold + "/")}
    if not written:
        return Check(
            name,
            False,
            t("ex1.task.no_gold_write", task=task.name, writes=sorted(run.writes) or "-"),
        )
    # what the transform returns on the sample (the result check grades the transform
    # itself): the task must write that
    if found is not None:
        want = result_rows(found.function(**{p: sample[p] for p in found.parameters()}))
    else:
        want = result_rows(run_prototype(sample))
    for path, frame in written.items():
        rows = result_rows(frame)
        if len(rows) == 2 * len(want) and compare(rows, want + want) is None:
            return Check(name, False, t("ex1.task.appends", task=task.name, path=path))
        if compare(rows, want) is None:
            silver = settings.lake_uri("silver")
            reads = sorted({r.rsplit("/", 1)[-1] for r in run.reads if r.startswith(silver)})
            return Check(
                name,
                True,
                t(
                    "ex1.task.ok",
                    task=task.name,
                    upstream=list(task.upstream),
                    reads=reads,
                    path=path,
                ),
            )
    return Check(name, False, t("ex1.task.wrong_write", task=task.name, paths=sorted(written)))


def check_wired_as_task(root: Path) -> Check:
    """A pipeline Task in a job module, run on the sample; or a state machine naming it."""
    name = "wired as a pipeline task"
    try:
        found: Transform | None = find_transform(root)
    except CourseError:
        found = None
    try:
        tasks = pipeline_tasks(root, strict=True)
    except CourseError as exc:
        return Check(name, False, str(exc))
    if tasks:
        return _task_verdict(tasks[0], found)
    for path in sorted(root.rglob("*.asl.json")):
        problem = _asl_problem(
            path, found.name if found else None, found.path.stem if found else None
        )
        if problem is None:
            return Check(name, True, t("ex1.task.asl_ok", file=path.name))
        return Check(name, False, problem)
    return Check(name, False, t("ex1.task.none"))


def _asl_problem(path: Path, function: str | None, module: str | None) -> str | None:
    try:
        asl = json.loads(path.read_text())
        states = asl["States"]
        start = asl["StartAt"]
    except (ValueError, KeyError, TypeError) as exc:
        return t("ex1.asl.invalid", file=path.name, error=exc)
    if start not in states:
        return t("ex1.asl.start", file=path.name, start=start)
    for state_name, state in states.items():
        if state.get("Next") and state["Next"] not in states:
            return t("ex1.asl.next", file=path.name, state=state_name, next=state["Next"])
    tasks = [s for s in states.values() if s.get("Type") == "Task"]
    if not any(n and n in json.dumps(s) for s in tasks for n in (function, module)):
        return t("ex1.asl.no_job", file=path.name, name=function or "?")
    return None


def check_ci_runs_tests(root: Path) -> Check:
    """A workflow job that runs on pull requests runs pytest for real, able to fail."""
    from sandbox.course.workflow_model import PULL_REQUEST, load_repository, may_run, runs

    name = "CI runs the tests"
    repo = load_repository(root)
    if repo.errors:
        file, line, error = repo.errors[0]
        return Check(name, False, t("error.not_yaml", path=f"{file}:{line}", error=error))
    found = runs(repo, "pytest")
    if not found:
        return Check(name, False, t("ex1.ci.none", root=root))
    failing = [(job, cmd) for job, cmd in found if cmd.can_fail]
    if not failing:
        job, cmd = found[0]
        return Check(name, False, t("ex1.ci.cannot_fail", where=cmd.where, job=job.name))
    # pull_request_target runs the base branch's workflow on the base's code: the pull
    # request's own tests never run (GitHub's "Events that trigger workflows")
    on_prs = [
        (job, cmd)
        for job, cmd in failing
        if may_run(repo, job, PULL_REQUEST) and "pull_request" in job.workflow.triggers
    ]
    if not on_prs and any("pull_request_target" in j.workflow.triggers for j, _ in failing):
        job, _ = failing[0]
        return Check(name, False, t("ex1.ci.pr_target", where=job.where, job=job.name))
    if not on_prs:
        job, cmd = failing[0]
        return Check(name, False, t("ex1.ci.not_on_prs", where=job.where, job=job.name))
    job, cmd = on_prs[0]
    return Check(name, True, t("ex1.ci.ok", where=cmd.where, job=job.name))
