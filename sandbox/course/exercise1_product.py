"""Exercise 1's productizing checks: retries, a failure alert and a schedule, graded by
running the student's orchestration with a planted failure, on their route of choice:

- a state machine (``*.asl.json``), run in the local endpoint's Step Functions
  interpreter (:mod:`sandbox.course.productize`), its schedule read from their
  CloudFormation template (:mod:`sandbox.course.productize_template`);
- an Airflow DAG, run by real Airflow (:mod:`sandbox.course.productize_dag`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.course.catalogue import t
from sandbox.course.checks import Check, CourseError
from sandbox.course.exercise1 import pipeline_tasks
from sandbox.course.exercise1_run import _LAB
from sandbox.course.productize import describe_waits, execute, state_machines, transient_failure
from sandbox.course.productize_dag import dag_files, dag_ids, run_dag
from sandbox.course.productize_template import alert_outside, grade_schedule


def _route(root: Path) -> tuple[str, Any, Any] | str:
    """("asl", task, (path, asl)) or ("dag", task, (files, dag id)); else what is missing."""
    tasks = pipeline_tasks(root)
    if not tasks:
        return t("ex1.product.no_task")
    task = tasks[0]
    try:
        machines = state_machines(root, task.name)
    except CourseError as exc:
        return str(exc)
    if machines:
        return "asl", task, machines[0]
    files = dag_files(root)
    ids = [i for f in files for i in dag_ids(f)]
    if files and ids:
        return "dag", task, (files, ids[0])
    return t("ex1.product.no_machine", task=task.name)


def _dag(root: Path, task: Any, files: list[Path], dag_id: str, mode: str):
    """The DAG run of ``mode``, once per grading (the three checks share them). Both
    runs start together: each is mostly Airflow starting, one core each."""
    from concurrent.futures import ThreadPoolExecutor

    modes = ("transient", "permanent")
    if ("dag", str(root), mode) not in _LAB.cache:
        with ThreadPoolExecutor(len(modes)) as pool:
            runs = pool.map(lambda m: run_dag(root, files, dag_id, task.name, m), modes)
            for m, run in zip(modes, runs, strict=True):
                _LAB.cache["dag", str(root), m] = run
    return _LAB.cache["dag", str(root), mode]


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
    route = _route(root)
    if isinstance(route, str):
        return Check(name, False, route)
    kind, task, found = route
    if kind == "dag":
        files, dag_id = found
        run = _dag(root, task, files, dag_id, "transient")
        tasks = list({e["task_id"]: e for e in run.events("task")}.values())  # parsed twice
        if not tasks:
            return Check(name, False, t("ex1.dag.not_parsed", dag=dag_id, log=run.log[-600:]))
        if run.events("ran"):
            delay = ", ".join(f"{e['retry_delay_s']:g} s" for e in tasks)
            return Check(
                name,
                True,
                t("ex1.dag.retries_ok", dag=dag_id, retries=tasks[0]["retries"], delay=delay),
            )
        return Check(name, False, t("ex1.dag.no_retries", dag=dag_id, retries=tasks[0]["retries"]))
    path, asl = found
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
    route = _route(root)
    if isinstance(route, str):
        return Check(name, False, route)
    kind, task, found = route
    if kind == "dag":
        files, dag_id = found
        run = _dag(root, task, files, dag_id, "permanent")
        if run.events("alert"):
            errors = [e["error"] for e in run.events("alert_error")]
            return Check(name, True, t("ex1.dag.alert_ok", dag=dag_id, errors=errors or "-"))
        return Check(name, False, t("ex1.dag.no_alert", dag=dag_id))
    path, asl = found
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
    route = _route(root)
    if isinstance(route, str):
        return Check(name, False, route)
    kind, task, found = route
    if kind == "dag":
        files, dag_id = found
        run = _dag(root, task, files, dag_id, "transient")
        dags = [d for d in run.events("dag") if d["dag_id"] == dag_id]
        if not dags:
            return Check(name, False, t("ex1.dag.not_parsed", dag=dag_id, log=run.log[-600:]))
        if not dags[0]["periodic"]:
            return Check(
                name, False, t("ex1.dag.no_schedule", dag=dag_id, schedule=dags[0]["schedule"])
            )
        return Check(name, True, t("ex1.dag.schedule_ok", dag=dag_id, schedule=dags[0]["schedule"]))
    path, _ = found
    passed, message = grade_schedule(root, path.name)
    return Check(name, passed, message)
