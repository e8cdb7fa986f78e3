"""Exercise 1's productizing checks: retries, a failure alert and a schedule, each graded
by running the student's state machine with a planted failure
(:mod:`sandbox.course.productize`)."""

from __future__ import annotations

from pathlib import Path

from sandbox.course.catalogue import t
from sandbox.course.checks import Check, CourseError
from sandbox.course.exercise1 import job_modules, load_module
from sandbox.course.exercise1_run import _LAB
from sandbox.course.productize import describe_waits, execute, state_machines, transient_failure
from sandbox.course.productize_template import alert_outside, grade_schedule


def _productized(root: Path):
    """(task, asl path, asl) or a failing message."""
    from sandbox.orchestrate import Task

    tasks = []
    for path in job_modules(root):
        try:
            module = load_module(path, root)
        except CourseError:
            continue
        tasks += [obj for obj in vars(module).values() if isinstance(obj, Task)]
    if not tasks:
        return t("ex1.product.no_task")
    task = tasks[0]
    try:
        machines = state_machines(root, task.name)
    except CourseError as exc:
        return str(exc)
    if not machines:
        return t("ex1.product.no_machine", task=task.name)
    path, asl = machines[0]
    return task, path, asl


def _run_task(task):
    """The planted Lambda's real work: the student's task on the sample."""
    from sandbox.course.task_run import run_task
    from sandbox.platform import Settings

    run = run_task(task, _LAB.open(), _LAB.lakes()["sample"], Settings(_env_file=None))
    if run.error or run.refused:
        return RuntimeError(run.error or f"reads {run.refused}")
    return {"task": task.name, "wrote": sorted(run.writes)}


def check_retries(root: Path) -> Check:
    name = "retries"
    found = _productized(root)
    if isinstance(found, str):
        return Check(name, False, found)
    task, path, asl = found
    rel = path.relative_to(root)
    outcome = execute(asl, task.name, lambda n: transient_failure() if n == 1 else _run_task(task))
    if outcome.status == "INVALID":
        return Check(name, False, t("ex1.product.invalid", file=rel, error=outcome.errors[0]))
    if outcome.status == "SUCCEEDED" and outcome.invocations >= 2:
        return Check(
            name,
            True,
            t(
                "ex1.retries.ok",
                file=rel,
                error=outcome.errors[0],
                waits=describe_waits(outcome.waits),
            ),
        )
    if outcome.invocations < 2:
        return Check(name, False, t("ex1.retries.none", file=rel, status=outcome.status))
    return Check(
        name, False, t("ex1.retries.failed", file=rel, status=outcome.status, errors=outcome.errors)
    )


def check_alert(root: Path) -> Check:
    name = "failure alert"
    found = _productized(root)
    if isinstance(found, str):
        return Check(name, False, found)
    task, path, asl = found
    rel = path.relative_to(root)
    outcome = execute(asl, task.name, lambda n: RuntimeError("course: planted permanent failure"))
    if outcome.status == "INVALID":
        return Check(name, False, t("ex1.product.invalid", file=rel, error=outcome.errors[0]))
    if not outcome.alerts:
        outside = alert_outside(root, path.name)
        if outside and outcome.status == "FAILED":
            return Check(name, True, t("ex1.alert.outside", file=rel, where=outside))
        return Check(name, False, t("ex1.alert.none", file=rel, status=outcome.status))
    if outcome.status != "FAILED":
        return Check(name, False, t("ex1.alert.swallowed", file=rel, status=outcome.status))
    return Check(name, True, t("ex1.alert.ok", file=rel, attempts=outcome.invocations))


def check_schedule(root: Path) -> Check:
    name = "schedule"
    found = _productized(root)
    if isinstance(found, str):
        return Check(name, False, found)
    _, path, _ = found
    passed, message = grade_schedule(root, path.name)
    return Check(name, passed, message)
