"""Writing lake tables in two steps: Spark stages Parquet, one Delta commit publishes it.

Spark writes a table's new rows as plain Parquet into a folder inside the table's own
directory, ``<table>/staged-<run>/``. No reader sees them there: a Delta table is what
its log lists. Publishing is one Delta commit per table (delta-rs,
``create_write_transaction``) that replaces the table's files with the staged ones, in
place: nothing is copied, and the table's schema follows the staged rows (what
``overwriteSchema`` did). A layer's tables are committed side by side in threads.

Why not Spark's own Delta writer: on Sail every Delta write spends about 60 ms on the
log (against 12 ms for the same Parquet), and publishing a whole layer at once needed a
second full copy of every table. Measured in ``docs/benchmarks.md``.

The staged files of a committed table are its data files from then on; the staged
files of a run that never committed are deleted by ``discard``. A run killed before it
committed leaves its staged files behind, unseen by readers; silver records its runs
to delete them (``silver.staging.recover``), gold does not.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlparse

from deltalake import CommitProperties, DeltaTable, Schema
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sandbox.jobs.fingerprint import KnownStates, TableState, commit_metadata, table_state
from sandbox.platform import SandboxError, Settings
from sandbox.platform.services import move_prefix, remove_prefix, s3_client

STAGED = "staged-"

# Commits are object-store round trips, not CPU: threads overlap them.
COMMIT_THREADS = 8

T = TypeVar("T")


class PublishError(SandboxError):
    """A staged table could not be committed or removed; names the table."""


@dataclass(frozen=True)
class StagedTable:
    """One table's rows of one run, written as Parquet and not yet committed."""

    uri: str  # the Delta table, s3://<bucket>/<key>
    run: str
    schema_json: str  # Spark's StructType JSON, which is also Delta's schema string
    part: str = ""  # a sub-folder of the run's folder, for a part of a split (stage_parts)
    # What the commit records beside the rows (fingerprint and counts, see fingerprint.py)
    record: dict | None = None

    @property
    def folder(self) -> str:
        run = f"{self.uri}/{STAGED}{self.run}"
        return f"{run}/{self.part}" if self.part else run

    def read(self, spark: SparkSession) -> DataFrame:
        """The staged rows (with the schema: an empty frame leaves no file to read it from)."""
        from pyspark.sql.types import StructType

        return spark.read.schema(StructType.fromJson(json.loads(self.schema_json))).parquet(
            self.folder
        )

    def to_json(self) -> dict:
        return {
            "uri": self.uri,
            "run": self.run,
            "schema": self.schema_json,
            "part": self.part,
            "record": self.record,
        }

    @classmethod
    def from_json(cls, data: dict) -> StagedTable:
        return cls(
            data["uri"], data["run"], data["schema"], data.get("part", ""), data.get("record")
        )


def new_run() -> str:
    """A run id: sortable by time (pending publishes complete in order), unique."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def while_writing(write: Callable[[], None], analyze: Callable[[], T]) -> T:
    """Run ``write`` (a Spark write) with ``analyze`` (a schema asked of the engine) in a
    second thread at the same time, and return what ``analyze`` returned: the analyze
    is a round trip of its own (0.1 s on a small table) that the write does not need."""
    with ThreadPoolExecutor(1) as side:
        schema = side.submit(analyze)
        write()
        return schema.result()


def stage(df: DataFrame, uri: str, run: str) -> StagedTable:
    """Write ``df`` as Parquet under ``<uri>/staged-<run>/``; the table does not change."""
    folder = StagedTable(uri, run, "").folder
    schema = while_writing(
        lambda: df.write.mode("overwrite").parquet(folder), lambda: df.schema.json()
    )
    return StagedTable(uri, run, schema)


def stage_parts(
    settings: Settings,
    df: DataFrame,
    column: str,
    parts: dict[str, str],
    run: str,
    schemas: Callable[[], dict[str, str]],
) -> list[StagedTable]:
    """Write ``df`` once, partitioned by ``column``; each value's rows stage one table.

    ``parts`` maps a value of ``column`` to the uri of the table its rows are staged
    into; the tables are returned in that order. ``schemas`` gives each value's schema
    (JSON); it is called while Spark writes. A table's files may hold columns its
    schema does not name (a split writes one set of columns for every part): Delta
    readers read the schema's columns and ignore the others.

    Spark computes ``df`` once for all parts, where a write per part computes it once
    per part. It writes every part under the first table's run folder; the other parts'
    files are then moved (server-side copies) into their own tables' run folders, since
    a Delta table lists files under its own root. A crash between the two leaves them
    under the first table's run folder, which ``discard`` removes whole.
    """
    home = f"{next(iter(parts.values()))}/{STAGED}{run}"
    schema = while_writing(
        lambda: df.write.mode("overwrite").partitionBy(column).parquet(home), schemas
    )
    tables = [
        StagedTable(uri, run, schema[value], f"{column}={value}") for value, uri in parts.items()
    ]
    s3 = s3_client(settings)
    for table in tables[1:]:
        bucket, source = _bucket_key(f"{home}/{table.part}")
        move_prefix(s3, bucket, source + "/", _bucket_key(table.folder)[1] + "/")
    return tables


def _bucket_key(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.strip("/")


def _staged_files(settings: Settings, staged: StagedTable) -> list[AddAction | RemoveAction]:
    """The staged files as the add actions of a write transaction."""
    bucket, key = _bucket_key(staged.folder)
    table_key = _bucket_key(staged.uri)[1]
    objects = s3_client(settings).list_objects(bucket, key + "/", recursive=True)
    return [
        AddAction(
            o.object_name[len(table_key) + 1 :],  # relative to the table's root
            o.size,
            {},
            int(o.last_modified.timestamp() * 1000),
            True,
            "{}",
        )
        for o in objects
        if o.object_name.endswith(".parquet")
    ]


def is_committed(table: DeltaTable, run: str) -> bool:
    """Whether the table's current files are the ones ``run`` staged."""
    files = table.file_uris()
    return bool(files) and all(f"/{STAGED}{run}/" in f for f in files)


def commit(settings: Settings, staged: StagedTable) -> TableState | None:
    """Replace the table's rows with the staged ones in one Delta commit (creating it);
    returns the table's state after it.

    Committing a run that is already the table's current version does nothing, so a
    publish interrupted half way can be run again; neither does committing no rows to
    a table that has none, with the same schema.
    """
    schema = Schema.from_json(staged.schema_json)
    options = settings.s3_storage_options()
    try:
        table = DeltaTable(staged.uri, storage_options=options)
    except TableNotFoundError:
        table = DeltaTable.create(staged.uri, schema, storage_options=options)
    actions = _staged_files(settings, staged)
    if actions and is_committed(table, staged.run):
        return table_state(settings, staged.uri)
    if not actions and staged.record is None and not table.file_uris() and table.schema() == schema:
        return table_state(settings, staged.uri)  # empty before and after: no commit to make
    try:
        table.create_write_transaction(
            actions,
            mode="overwrite",
            schema=schema,
            commit_properties=CommitProperties(custom_metadata=commit_metadata(staged.record)),
        )
        # A checkpoint at every commit: a reader then loads one Parquet file instead of
        # replaying every JSON commit since the last one (Sail's Delta reads of a silver
        # table took 56 ms with ten commits to replay, 22 ms after a checkpoint).
        table.update_incremental()  # to the version just committed
        table.create_checkpoint()
    except Exception as exc:  # delta-rs raises several types; name the table either way
        raise PublishError(f"publish: committing {staged.uri} failed: {exc}") from exc
    return table_state(settings, staged.uri)


def commit_all(settings: Settings, tables: list[StagedTable]) -> KnownStates:
    """Commit every staged table, in parallel; the first failure is raised. Returns
    each table's state after its commit, by uri."""
    if not tables:
        return {}
    with ThreadPoolExecutor(min(COMMIT_THREADS, len(tables))) as pool:
        futures = [(t.uri, pool.submit(commit, settings, t)) for t in tables]
        return {uri: future.result() for uri, future in futures}


def discard(settings: Settings, uris: list[str], run: str) -> None:
    """Delete what ``run`` staged into the tables at ``uris`` (the tables are untouched)."""
    s3 = s3_client(settings)
    for uri in uris:
        bucket, key = _bucket_key(uri)
        remove_prefix(s3, bucket, f"{key}/{STAGED}{run}/")


def stage_all(jobs: list[tuple[DataFrame, str]], run: str, threads: int = 4) -> list[StagedTable]:
    """Stage several frames at once: Spark runs the writes side by side."""
    if len(jobs) <= 1:
        return [stage(df, uri, run) for df, uri in jobs]
    with ThreadPoolExecutor(min(threads, len(jobs))) as pool:
        futures = [pool.submit(stage, df, uri, run) for df, uri in jobs]
        return [f.result() for f in futures]


def publish_counted(
    spark: SparkSession,
    settings: Settings,
    tables: dict[str, tuple[DataFrame, str, str]],
    known: KnownStates,
    *,
    record: dict | None = None,
) -> dict[str, int]:
    """Stage ``{name: (frame, uri, fingerprint)}`` side by side, count every staged
    table in one query, then commit them all, each recording its fingerprint and count
    (and ``record``'s fields: gold's ``as_of``).
    Nothing is published if a stage or the count fails (what was staged is discarded).
    Adds the new table states to ``known``; returns the rows by name."""
    if not tables:
        return {}
    run = new_run()
    jobs = [(df, uri) for df, uri, _ in tables.values()]
    try:
        staged = stage_all(jobs, run)
        reads = [
            t.read(spark).agg(F.count(F.lit(1)).alias("n")).select(F.lit(name).alias("name"), "n")
            for name, t in zip(tables, staged, strict=True)
        ]
        union = reads[0]
        for part in reads[1:]:
            union = union.unionByName(part)
        counted = {r["name"]: r["n"] for r in union.collect()}
    except BaseException:
        discard(settings, [uri for _, uri in jobs], run)
        raise
    records = [
        replace(t, record={"fingerprint": fp, "rows": counted[name]} | (record or {}))
        for (name, (_, _, fp)), t in zip(tables.items(), staged, strict=True)
    ]
    known.update(commit_all(settings, records))
    return counted
