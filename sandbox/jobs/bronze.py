"""Bronze: a replica of the application database, and the raw events as tables.

CDC tables: the full load, then CDC applied with MERGE on the primary key, the last
operation per key winning by commit order (the change-sequence column), deletes
applied. Only raw objects not in the table's manifest are read; a re-run with nothing
new changes nothing. A new source column is added to the Delta schema first (a commit
of its own in the table history), then the MERGE fills it.

Event tables: one per Firehose stream, append-only, deduplicated on ``event_id``,
partitioned by ``event_date``; SNS envelopes are unwrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from sandbox.dms.replay import is_load_file, raw_table_objects
from sandbox.jobs.lake import (
    SOURCE_KEYS,
    Manifest,
    bronze_events_path,
    bronze_path,
)
from sandbox.services.base import SandboxError
from sandbox.services.s3 import s3_client
from sandbox.settings import Settings

Progress = Callable[[str], None]


class BronzeError(SandboxError):
    """Raw data that bronze cannot apply (names the table and what is missing)."""


@dataclass
class BronzeResult:
    table: str
    files: int
    rows_in: int
    path: str


# -- transforms: DataFrame in, DataFrame out ------------------------------------


def latest_changes(changes: DataFrame, keys: list[str], seq_col: str) -> DataFrame:
    """The last change per key in commit order (not file order)."""
    w = Window.partitionBy(*keys).orderBy(F.col(seq_col).desc())
    return changes.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")


def unwrap_events(lines: DataFrame) -> DataFrame:
    """Raw Firehose lines (SNS envelopes or bare events) -> one row per event."""
    env = F.from_json("value", "Type string, MessageId string, Message string")
    parsed = lines.select(F.col("value"), env.alias("env"))
    body = F.when(F.col("env.Type") == "Notification", F.col("env.Message")).otherwise(
        F.col("value")
    )
    events = parsed.select(
        body.alias("payload"),
        F.when(F.col("env.Type") == "Notification", F.col("env.MessageId")).alias("sns_message_id"),
    )
    event_time = F.to_timestamp(F.get_json_object("payload", "$.event_time"))
    return events.select(
        F.get_json_object("payload", "$.event_id").alias("event_id"),
        F.get_json_object("payload", "$.event_type").alias("event_type"),
        event_time.alias("event_time"),
        F.to_date(event_time).alias("event_date"),
        F.col("payload"),
        F.col("sns_message_id"),
    ).where(F.col("event_id").isNotNull())


def dedupe_events(events: DataFrame) -> DataFrame:
    w = Window.partitionBy("event_id").orderBy(F.col("event_time"))
    return events.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")


# -- jobs: I/O at the edges ----------------------------------------------------------


def is_delta(settings: Settings, path: str) -> bool:
    return DeltaTable.is_deltatable(path, storage_options=settings.s3_storage_options())


def bronze_cdc_table(spark: SparkSession, settings: Settings, table: str) -> BronzeResult:
    """Apply the raw DMS files of ``table`` not yet applied; returns what was read."""
    cfg = settings.dms
    schema = cfg.source_schema
    keys = SOURCE_KEYS.get(table)
    if keys is None:
        raise BronzeError(f"bronze: no primary key declared for {schema}.{table} in SOURCE_KEYS")
    seq = cfg.change_seq_column_name
    if not seq:
        raise BronzeError("bronze: the DMS change-sequence column is off (change_seq_column_name)")
    s3 = s3_client(settings)
    objects = raw_table_objects(s3, settings.raw_bucket, cfg, schema, table)
    manifest = Manifest(s3, settings.lake_bucket, f"bronze/{schema}/{table}")
    new = manifest.new(objects)
    path = bronze_path(settings, schema, table)
    if not new:
        return BronzeResult(table, 0, 0, path)
    exists = is_delta(settings, path)
    rebuild = any(is_load_file(k) for k in new) and exists
    if rebuild:
        # A new full load (the DMS task was restarted): rebuild from all of it.
        new = list(objects)
    uris = [f"s3://{settings.raw_bucket}/{k}" for k in new]
    raw = spark.read.option("mergeSchema", "true").parquet(*uris)
    if "Op" not in raw.columns:  # IncludeOpForFullLoad off: full-load rows are inserts
        raw = raw.withColumn("Op", F.lit("I"))
    if seq not in raw.columns:
        raise BronzeError(f"bronze: {schema}.{table} raw files lack the {seq} column")
    meta = {"Op", seq, cfg.timestamp_column_name}
    columns = [c for c in raw.columns if c not in meta]
    latest = latest_changes(raw, keys, seq)
    rows_in = raw.count()
    if not exists or rebuild:
        (latest.where(F.col("Op") != "D").select(*columns)
         .write.format("delta").mode("overwrite").option("overwriteSchema", "true")
         .save(path))  # fmt: skip
    else:
        _merge(spark, path, latest, columns, keys)
    manifest.record({k: objects[k] for k in new})
    return BronzeResult(table, len(new), rows_in, path)


def _merge(
    spark: SparkSession, path: str, changes: DataFrame, columns: list[str], keys: list[str]
) -> None:
    target = spark.read.format("delta").load(path).columns
    added = [c for c in columns if c not in target]
    if added:
        # Schema evolution as its own commit: an empty append that adds the columns.
        empty = changes.select(*target, *added).limit(0)
        empty.write.format("delta").mode("append").option("mergeSchema", "true").save(path)
    view = f"_bronze_changes_{abs(hash(path))}"
    changes.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` <=> c.`{k}`" for k in keys)
    sets = ", ".join(f"t.`{c}` = c.`{c}`" for c in columns)
    cols = ", ".join(f"`{c}`" for c in columns)
    vals = ", ".join(f"c.`{c}`" for c in columns)
    spark.sql(
        f"MERGE INTO delta.`{path}` t USING {view} c ON {on} "
        f"WHEN MATCHED AND c.Op = 'D' THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {sets} "
        f"WHEN NOT MATCHED AND c.Op <> 'D' THEN INSERT ({cols}) VALUES ({vals})"
    ).collect()
    spark.catalog.dropTempView(view)


def bronze_event_stream(spark: SparkSession, settings: Settings, stream: str) -> BronzeResult:
    """Append the new Firehose objects of ``stream``, skipping event ids already there."""
    s3 = s3_client(settings)
    prefix = f"{settings.firehose.prefix}/{stream}/"
    objects = {
        o.object_name: o.etag
        for o in s3.list_objects(settings.raw_bucket, prefix=prefix, recursive=True)
    }
    objects = dict(sorted(objects.items()))
    manifest = Manifest(s3, settings.lake_bucket, f"bronze/events/{stream}")
    new = manifest.new(objects)
    path = bronze_events_path(settings, stream)
    if not new:
        return BronzeResult(stream, 0, 0, path)
    lines = spark.read.text([f"s3://{settings.raw_bucket}/{k}" for k in new])
    events = dedupe_events(unwrap_events(lines))
    rows_in = events.count()
    if not is_delta(settings, path):
        events.write.format("delta").mode("overwrite").partitionBy("event_date").save(path)
    else:
        view = f"_bronze_events_{abs(hash(path))}"
        events.createOrReplaceTempView(view)
        spark.sql(
            f"MERGE INTO delta.`{path}` t USING {view} s ON t.event_id = s.event_id "
            f"WHEN NOT MATCHED THEN INSERT *"
        ).collect()
        spark.catalog.dropTempView(view)
    manifest.record({k: objects[k] for k in new})
    return BronzeResult(stream, len(new), rows_in, path)


def run_bronze(
    spark: SparkSession, settings: Settings, progress: Progress | None = None
) -> list[BronzeResult]:
    """Every source table and every event stream."""
    from sandbox.events.schemas import STREAMS

    results = []
    for table in SOURCE_KEYS:
        r = bronze_cdc_table(spark, settings, table)
        results.append(r)
        if progress:
            progress(f"bronze {table}: {r.files} new raw files, {r.rows_in} rows")
    for stream in STREAMS:
        r = bronze_event_stream(spark, settings, stream)
        results.append(r)
        if progress:
            progress(f"bronze events {stream}: {r.files} new objects, {r.rows_in} events")
    return results
