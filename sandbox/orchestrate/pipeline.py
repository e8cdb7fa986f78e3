"""The pipeline: one DAG of named tasks, run by the CLI, notebooks, tests and Airflow.

    ingest_dms ──┐
                 ├─> bronze ─> silver ─> gold ─> warehouse ─> report
    ingest_firehose ┘

Each task is a function of a :class:`Context`; nothing here is specific to who runs
it. ``run_pipeline(settings, ["silver"])`` runs one task; ``layers=None`` runs all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.platform import Progress, SandboxError, Settings, quiet
from sandbox.platform.locks import task_lock


@dataclass
class Context:
    settings: Settings
    progress: Progress = quiet
    # Rebuild silver tables and gold marts, and reload the warehouse's marts, even where
    # code and inputs are unchanged.
    force: bool = False
    # Gold aggregates the facts that had happened by then (``sandbox.jobs.as_of``);
    # None: everything up to now. A scheduled Airflow run passes its interval's end.
    as_of: datetime | None = None
    # The lake tables' states read or published by the tasks so far (``table_states``):
    # gold then reads only the silver tables silver did not, the warehouse no gold mart.
    states: dict = field(default_factory=dict)
    _spark: Any = None

    @property
    def spark(self):
        if self._spark is None:
            from sandbox.platform import spark_session

            self._spark = spark_session(self.settings)
        return self._spark


@dataclass(frozen=True)
class Task:
    """A pipeline task: its name, the tasks it waits for, what it runs, and one line
    that says what it does (the CLI, Airflow and Step Functions show it)."""

    name: str
    upstream: tuple[str, ...]
    run: Callable[[Context], Any]
    doc: str
    # Whether its code imports PySpark's client, pandas and delta-rs (the CLI then
    # loads them up front: ``watch.preload``); the ingest tasks do not.
    heavy: bool = True


def _ingest_dms(ctx: Context):
    from sandbox.ingest.dms import DmsTask

    r = DmsTask(ctx.settings).run(ctx.progress)
    return {
        "full_load_files": len(r.full_load_files),
        "cdc_files": len(r.cdc_files),
        "changes": r.changes,
    }


def _ingest_firehose(ctx: Context):
    from sandbox.ingest.events import DeliveryReport, delivery_streams

    total = DeliveryReport()
    for stream in delivery_streams(ctx.settings).values():
        total.merge(stream.flush(force=True))
    ctx.progress(f"firehose: {total.delivered} records, {total.failed} to the error prefix")
    return {"delivered": total.delivered, "failed": total.failed, "reasons": total.reasons}


def _bronze(ctx: Context):
    from sandbox.jobs import run_bronze

    return {r.table: r.rows_in for r in run_bronze(ctx.spark, ctx.settings, ctx.progress)}


def _silver(ctx: Context):
    from sandbox.jobs.silver import run_silver

    report = run_silver(ctx.spark, ctx.settings, ctx.progress, force=ctx.force, known=ctx.states)
    return {
        "rows": report.rows,
        "quarantined": report.quarantined,
        "rules": report.rules,
        "kept": report.kept,
    }


def _gold(ctx: Context):
    from sandbox.jobs import run_gold

    return run_gold(
        ctx.spark, ctx.settings, ctx.progress, force=ctx.force, known=ctx.states, as_of=ctx.as_of
    )


def _warehouse(ctx: Context):
    from sandbox.serve import run_warehouse

    report = run_warehouse(ctx.settings, ctx.progress, force=ctx.force, known=ctx.states)
    return report.rows


def _report(ctx: Context):
    from sandbox.serve import write_report

    path = write_report(ctx.settings)
    ctx.progress(f"report: {path}")
    return str(path)


TASKS: list[Task] = [
    Task(
        "ingest_dms",
        (),
        _ingest_dms,
        "DMS full load (once) and CDC into s3://raw/dms/",
        heavy=False,
    ),
    Task(
        "ingest_firehose",
        (),
        _ingest_firehose,
        "Firehose delivery into s3://raw/events/",
        heavy=False,
    ),
    Task("bronze", ("ingest_dms", "ingest_firehose"), _bronze, "raw -> bronze Delta"),
    Task("silver", ("bronze",), _silver, "bronze -> silver Delta, quality rules"),
    Task("gold", ("silver",), _gold, "silver -> gold marts"),
    Task("warehouse", ("gold",), _warehouse, "gold -> warehouse (DELETE + COPY, one transaction)"),
    Task("report", ("warehouse",), _report, "warehouse -> offline HTML report"),
]

# Names users type for groups of tasks.
LAYERS = {"ingest": ["ingest_dms", "ingest_firehose"]}


def task_names() -> list[str]:
    """The tasks' names, in pipeline order."""
    return [t.name for t in TASKS]


def select(names: list[str] | None) -> list[Task]:
    """The tasks to run, in DAG order; unknown names raise with the known ones."""
    if not names:
        return list(TASKS)
    wanted: set[str] = set()
    for n in names:
        expanded = LAYERS.get(n, [n])
        unknown = [x for x in expanded if x not in task_names()]
        if unknown:
            raise SandboxError(
                f"unknown task {n!r}; choose from {', '.join([*LAYERS, *task_names()])}"
            )
        wanted.update(expanded)
    return [t for t in TASKS if t.name in wanted]


@dataclass
class TaskRun:
    name: str
    seconds: float
    result: Any


@dataclass
class PipelineRun:
    tasks: list[TaskRun] = field(default_factory=list)

    def result(self, name: str) -> Any:
        return next(t.result for t in self.tasks if t.name == name)


def run_pipeline(
    settings: Settings,
    names: list[str] | None = None,
    *,
    progress: Progress = quiet,
    on_task: Callable[[Task], None] | None = None,
    context: Context | None = None,
    force: bool = False,
    as_of: datetime | None = None,
) -> PipelineRun:
    """Run the selected tasks in DAG order, timing each (``force``: see ``Context``)."""
    ctx = context or Context(settings, progress, force, as_of)
    run = PipelineRun()
    for task in select(names):
        if on_task:
            on_task(task)
        # one writer per task on this home (another run, --watch, an Airflow task)
        with task_lock(
            settings.runtime_dir, task.name, wait_s=settings.task_lock_wait_s, progress=progress
        ):
            t0 = time.perf_counter()
            result = task.run(ctx)
        run.tasks.append(TaskRun(task.name, time.perf_counter() - t0, result))
        if task.name == "warehouse":
            _save_run(settings, run)  # the report shows the timings up to here
    _save_run(settings, run)
    return run


def _save_run(settings: Settings, run: PipelineRun) -> None:
    path = settings.runtime_dir / "runs" / "last.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "finished_at": time.time(),
        "tasks": [{"name": t.name, "seconds": t.seconds} for t in run.tasks],
    }
    path.write_text(json.dumps(payload, indent=1))
