"""Run a student's pipeline task on the committed sample, its reads and writes recorded.

Exercise 1 asks for a task that reads silver, calls the transform and writes gold. The
checker runs the task's ``run(ctx)`` for real, on an in-process Spark session whose
``read`` serves the sample's silver tables at their lake paths (``silver_path`` of the
settings the context carries) and whose DataFrame writes are recorded instead of sent to
S3, twice (two days of a schedule). What it read and what it wrote are then compared
with what the transform returns.

Only the platform's Spark I/O is intercepted (``spark.read…load/table``,
``df.write…save/saveAsTable``, ``df.writeTo``). A task that writes another way (delta-rs,
boto3) cannot be run here: :func:`run_task` says so in ``TaskRun.unsupported`` and the
checker falls back to reading the task's code.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

    from sandbox.orchestrate import Task
    from sandbox.platform import Settings


class _Refused(Exception):
    """A read of a path that is not a silver table of the sample."""


@dataclass
class TaskRun:
    reads: list[str] = field(default_factory=list)
    writes: dict[str, DataFrame] = field(default_factory=dict)
    refused: str | None = None  # a path read that is not silver
    error: str | None = None  # what the run raised (type: message)
    unsupported: bool = False  # it raised outside Spark's I/O (another client)


class _Reader:
    def __init__(self, tables: dict[str, DataFrame], run: TaskRun) -> None:
        self._tables, self._run = tables, run

    def format(self, *_: Any) -> _Reader:
        return self

    def option(self, *_: Any, **__: Any) -> _Reader:
        return self

    options = schema = option

    def load(self, path: str | None = None, *_: Any, **__: Any) -> DataFrame:
        key = str(path).rstrip("/")
        self._run.reads.append(key)
        if key in self._tables:
            return self._tables[key]
        if key in self._run.writes:
            return self._run.writes[key]
        self._run.refused = key
        raise _Refused(key)

    table = delta = parquet = load


class _Session:
    """The session the task sees: reads served from the sample, the rest the real one's."""

    def __init__(self, spark: SparkSession, tables: dict[str, DataFrame], run: TaskRun) -> None:
        self._spark, self.read = spark, _Reader(tables, run)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spark, name)


class _Writer:
    """A DataFrameWriter (or DataFrameWriterV2) that keeps the frame: overwritten, or
    added to what the path holds when the mode is ``append`` (Spark's default mode is
    ``error``: the checker treats it as a first write)."""

    def __init__(self, frame: DataFrame, run: TaskRun, table: str | None = None) -> None:
        self._frame, self._run, self._mode, self._table = frame, run, "overwrite", table

    def _chain(self, *_: Any, **__: Any) -> _Writer:
        return self

    format = option = options = partitionBy = using = tableProperty = _chain

    def mode(self, mode: str | None = None, *_: Any, **__: Any) -> _Writer:
        self._mode = str(mode or "overwrite").lower()
        return self

    def save(self, path: str | None = None, *_: Any, **kwargs: Any) -> None:
        key = str(path if isinstance(path, str) else self._table).rstrip("/")
        mode = str(kwargs.get("mode") or self._mode).lower()
        held = self._run.writes.get(key)
        if mode == "append" and held is not None:
            self._run.writes[key] = held.unionByName(self._frame)
        else:
            self._run.writes[key] = self._frame

    saveAsTable = insertInto = save

    # DataFrameWriterV2 (``df.writeTo(table)``): the table is the key
    def create(self, *_: Any, **__: Any) -> None:
        self.save(self._table)

    createOrReplace = replace = overwrite = overwritePartitions = create

    def append(self, *_: Any, **__: Any) -> None:
        self._mode = "append"
        self.save(self._table)


@contextmanager
def _recording_writes(run: TaskRun) -> Iterator[None]:
    from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame

    # pyspark is not type-checked here (see pyproject): plain attribute swaps
    frame: Any = ConnectFrame
    saved = frame.write, frame.writeTo
    frame.write = property(lambda df: _Writer(df, run))
    frame.writeTo = lambda df, table: _Writer(df, run, table)
    try:
        yield
    finally:
        frame.write, frame.writeTo = saved


def run_task(
    task: Task,
    spark: SparkSession,
    silver: dict[str, DataFrame],
    settings: Settings,
    *,
    times: int = 1,
) -> TaskRun:
    """Run ``task.run`` ``times`` times (a schedule's days) with ``silver`` (table name ->
    frame) served at its lake paths; what it writes stays between runs."""
    from sandbox.jobs.layers import silver_path
    from sandbox.jobs.silver import SILVER_TABLES
    from sandbox.orchestrate.pipeline import Context

    tables = {silver_path(settings, t.domain, t.name): silver[t.name] for t in SILVER_TABLES}
    run = TaskRun()
    ctx = Context(settings, _spark=_Session(spark, tables, run))
    with _recording_writes(run):
        try:
            for _ in range(times):
                task.run(ctx)
        except _Refused:
            pass
        except Exception as exc:  # the student's code: report what it raised
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            run.error = f"{type(exc).__name__}: {first}"
            module = type(exc).__module__ or ""
            run.unsupported = not run.writes and module.split(".")[0] in {
                "botocore",
                "boto3",
                "deltalake",
                "minio",
                "urllib3",
                "requests",
                "pyarrow",
            }
    return run
