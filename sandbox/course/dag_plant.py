"""Airflow cluster policies that plant a failure in a student's DAG (loaded by the
``airflow_local_settings.py`` that :mod:`sandbox.course.productize_dag` writes).

``SANDBOX_COURSE_PLANT`` holds a JSON object: ``mode`` (``transient``: each task's
first try fails, the next ones run the student's pipeline task on the sample;
``permanent``: every try fails), ``record`` (a JSON-lines file of what happened),
``root`` (the student's work) and ``task`` (the pipeline task's name). Every task's
own ``execute`` is replaced (it may start a pod, which needs a cluster), its
``retry_delay`` recorded and set to zero (so retries are real Airflow retries, not
waited), and its ``on_failure_callback`` wrapped so its calls are recorded.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

ENV = "SANDBOX_COURSE_PLANT"


def _spec() -> dict | None:
    raw = os.environ.get(ENV)
    return json.loads(raw) if raw else None


def _record(spec: dict, **event: Any) -> None:
    with Path(spec["record"]).open("a") as out:
        out.write(json.dumps(event, default=str) + "\n")


def dag_policy(dag: Any) -> None:
    spec = _spec()
    if spec is None:
        return
    timetable = getattr(dag, "timetable", None)
    kind = type(timetable).__name__
    # no schedule (None) and "@once" are not a schedule; a cron, a timedelta, a
    # timetable or an asset trigger are
    periodic = kind not in {"NullTimetable", "OnceTimetable", "NoneType"} and bool(
        getattr(timetable, "can_be_scheduled", True)
    )
    described = getattr(timetable, "expression", None) or getattr(dag, "schedule", None)
    _record(
        spec, event="dag", dag_id=dag.dag_id, schedule=f"{kind}: {described}", periodic=periodic
    )


def task_policy(task: Any) -> None:
    spec = _spec()
    if spec is None:
        return
    delay = task.retry_delay
    _record(
        spec,
        event="task",
        task_id=task.task_id,
        retries=task.retries,
        retry_delay_s=delay.total_seconds() if isinstance(delay, timedelta) else delay,
        callback=bool(task.on_failure_callback),
    )
    task.retry_delay = timedelta(0)
    task.retry_exponential_backoff = False
    task_id = task.task_id

    def execute(context: Any) -> Any:
        tries = Path(spec["record"]).with_suffix(f".{task_id}.tries")
        attempt = int(tries.read_text()) + 1 if tries.exists() else 1
        tries.write_text(str(attempt))
        _record(spec, event="try", task_id=task_id, attempt=attempt)
        if spec["mode"] == "permanent" or attempt == 1:
            raise RuntimeError(f"course: planted {spec['mode']} failure (try {attempt})")
        wrote = _run_pipeline_task(spec)
        _record(spec, event="ran", task_id=task_id, wrote=wrote)
        return None

    task.execute = execute
    callbacks = task.on_failure_callback
    if callbacks:
        listed = callbacks if isinstance(callbacks, list) else [callbacks]

        def told(context: Any) -> None:
            _record(spec, event="alert", task_id=task_id)
            for callback in listed:
                try:
                    callback(context)
                except Exception as exc:  # the student's callback: record, do not hide
                    _record(spec, event="alert_error", error=f"{type(exc).__name__}: {exc}")

        task.on_failure_callback = [told]  # Airflow 3 iterates the callbacks


def _run_pipeline_task(spec: dict) -> list[str]:
    """The student's pipeline task on the sample, its lake I/O served in memory."""
    import sys

    from sandbox.course.exercise1 import pipeline_tasks
    from sandbox.course.sample_lake import sample_silver
    from sandbox.course.task_run import run_task
    from sandbox.platform import Settings, in_process_sail

    root = Path(spec["root"])
    tasks = [task for task in pipeline_tasks(root, strict=True) if task.name == spec["task"]]
    if not tasks:
        raise RuntimeError(f"course: no pipeline task {spec['task']!r} in {root}")
    print(f"course: running task {spec['task']!r} on the sample", file=sys.stderr)
    with in_process_sail(quiet=True) as spark:
        run = run_task(tasks[0], spark, sample_silver(spark), Settings(_env_file=None))
    if run.error or run.refused:
        raise RuntimeError(f"course: the task failed on the sample: {run.error or run.refused}")
    return sorted(run.writes)
