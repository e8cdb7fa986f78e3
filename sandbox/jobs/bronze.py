"""Bronze: a replica of the application database, every table DMS lands.

CDC tables: every ``<schema>/<table>`` folder in the raw bucket is a table. Its keys
are the source's primary key as the DMS task recorded it (the table mapping), or an
explicit override (``SANDBOX_BRONZE__KEYS``). The full load, then CDC applied with
MERGE on the keys, the last operation per key winning in commit order, deletes
applied. Only raw objects not in the table's manifest are read; a re-run with nothing
new changes nothing. A new source column is added to the Delta schema first (a
commit of its own in the table history), then the MERGE fills it; a rename, a
dropped column or a widened type rewrites the table to the source's new shape.

A table without a key (insert-only in the source) is appended to. A table bronze
cannot apply (no mapping and no override) is named in an error after every other
table has been applied: never skipped in silence.

Event tables are built by :mod:`sandbox.jobs.bronze_events`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from sandbox.ingest.dms import TableMapping, read_mapping
from sandbox.ingest.events import STREAMS
from sandbox.jobs.bronze_events import bronze_event_stream
from sandbox.jobs.bronze_raw import (
    ORDER,
    is_load_file,
    latest_rows,
    normalize,
    raw_objects,
    raw_tables,
)
from sandbox.jobs.layers import BronzeResult, Manifest, bronze_path, is_delta
from sandbox.platform import Progress, SandboxError, Settings
from sandbox.platform.services import read_parquet_objects, remove_prefix, s3_client


class BronzeError(SandboxError):
    """Raw data that bronze cannot apply (names the table and what is missing)."""


# -- transforms: DataFrame in, DataFrame out ------------------------------------


def latest_changes(changes: DataFrame, keys: list[str], order: str | list[str]) -> DataFrame:
    """The last change per key in commit order: the highest value of ``order`` wins."""
    cols = [order] if isinstance(order, str) else order
    w = Window.partitionBy(*keys).orderBy(*[F.col(c).desc() for c in cols])
    return changes.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")


# -- jobs: I/O at the edges ----------------------------------------------------------


# An Arrow table larger than this goes to Spark through the lake, not inline: Sail never
# uses Spark Connect's chunked upload, and gRPC refuses a message over 128 MiB (a full
# load of match_players at scale 16 is 150 MB).
INLINE_BYTES = 64 * 1024 * 1024
SPILL_PREFIX = "_tmp/bronze/"
# How many recent commits of a keyless table a run looks through for its batch: a run
# that crashed before its manifest is the table's last writer (one writer per task).
APPEND_HISTORY = 20

log = logging.getLogger(__name__)


def arrow_frame(spark: SparkSession, table: pa.Table) -> DataFrame:
    """A DataFrame of an Arrow table, empty ones included (Spark cannot infer those)."""
    return spark.createDataFrame(table, schema=from_arrow_schema(table.schema))


@contextmanager
def lake_frame(spark: SparkSession, table: pa.Table, settings: Settings) -> Iterator[DataFrame]:
    """``arrow_frame`` for a table of any size, valid inside the ``with`` block.

    A table over ``INLINE_BYTES`` is written as Parquet under ``s3://<lake>/_tmp/bronze/``
    and read from there; the object is removed when the block ends. (A run killed
    inside the block leaves it behind: the next ``run_bronze`` removes it.)
    """
    if table.nbytes <= INLINE_BYTES:
        yield arrow_frame(spark, table)
        return
    buf = io.BytesIO()
    pq.write_table(table, buf)
    key = f"{SPILL_PREFIX}{uuid.uuid4().hex}.parquet"
    size = buf.tell()
    buf.seek(0)
    s3 = s3_client(settings)
    s3.put_object(settings.lake_bucket, key, buf, size)
    try:
        yield spark.read.schema(from_arrow_schema(table.schema)).parquet(settings.lake_uri(key))
    finally:
        s3.remove_object(settings.lake_bucket, key)


def table_keys(settings: Settings, mapping: TableMapping | None, schema: str, table: str):
    """``(keys, mapping)`` for a raw table; keys ``[]`` means append-only."""
    override = settings.bronze.keys.get(f"{schema}.{table}")
    if mapping is None:
        raise BronzeError(
            f"bronze: {schema}.{table} is in raw but the DMS task recorded no table mapping "
            f"for it; run `sandbox ingest dms` (it records one per table) or check "
            f"SANDBOX_DMS__BUCKET_FOLDER"
        )
    if override:
        missing = [k for k in override if k not in mapping.column_names]
        if missing:
            raise BronzeError(
                f"bronze: key override for {schema}.{table} names unknown column(s) {missing}"
            )
        return list(override)
    if mapping.primary_key:
        return list(mapping.primary_key)
    if mapping.replica_identity == "f":
        return list(mapping.column_names)  # whole rows identify rows
    return []


def batch_id(table: str, objects: dict[str, str], new: list[str]) -> str:
    """The identity of one batch of raw files (their keys and etags): the same files
    give the same id, whichever run applies them."""
    digest = hashlib.sha256(
        "\n".join(f"{k}:{objects[k]}" for k in sorted(new)).encode()
    ).hexdigest()
    return f"bronze:{table}:{digest[:32]}"


def _append_once(settings: Settings, frame: DataFrame, path: str, batch: str) -> None:
    """Append ``frame`` unless a commit of ``batch`` is already in the table.

    A keyless table has no key to MERGE on, so a crash (a SIGKILL, Airflow's kill)
    between the append and the manifest would append the same files again on the next
    run. The batch id goes into the commit's ``userMetadata`` (Delta's commitInfo); a
    rerun that finds it in the table's recent history knows the rows are there and
    only writes the manifest. (Delta's own idempotent writes, ``txnAppId`` and
    ``txnVersion``, are not implemented by Sail's writer.)
    """
    from deltalake import DeltaTable

    history = DeltaTable(path, storage_options=settings.s3_storage_options()).history(
        APPEND_HISTORY
    )
    if any(entry.get("userMetadata") == batch for entry in history):
        log.info(
            "%s: batch %s is already appended (a run stopped before its manifest)", path, batch
        )
        return
    frame.write.format("delta").mode("append").option("userMetadata", batch).save(path)


def bronze_cdc_table(
    spark: SparkSession, settings: Settings, table: str, *, schema: str | None = None
) -> BronzeResult:
    """Apply the raw DMS files of ``schema.table`` not yet applied; returns what was read."""
    cfg = settings.dms
    schema = schema or cfg.source_schema
    s3 = s3_client(settings)
    mapping = read_mapping(s3, settings.raw_bucket, cfg.bucket_folder, schema, table)
    keys = table_keys(settings, mapping, schema, table)
    assert mapping is not None  # table_keys raised otherwise
    objects = raw_objects(s3, settings.raw_bucket, cfg, schema, table)
    manifest = Manifest(s3, settings.lake_bucket, f"bronze/{schema}/{table}")
    new = manifest.new(objects)
    path = bronze_path(settings, schema, table)
    if not new:
        return BronzeResult(f"{schema}.{table}", 0, 0, path)
    exists = is_delta(settings, path)
    rebuild = any(is_load_file(k) for k in new) and exists
    if rebuild:
        # A new full load (DMS replaced the table's folder): rebuild from all of it.
        new = list(objects)
    raw = normalize(read_parquet_objects(s3, settings.raw_bucket, new), cfg=cfg, mapping=mapping)
    rows_in = raw.num_rows
    deduplicated = False
    # A key type Arrow cannot group by leaves it to Spark's window below.
    with contextlib.suppress(pa.ArrowNotImplementedError):
        if keys:
            raw, deduplicated = latest_rows(raw, keys), True
    with lake_frame(spark, raw, settings) as changes:
        columns = mapping.column_names
        if not keys:
            # no key: the source is insert-only while it is published, bronze appends
            inserts = changes.where(F.col("Op") == "I").select(*columns)
            if not exists or rebuild:
                (
                    inserts.write.format("delta")
                    .mode("overwrite")
                    .option("overwriteSchema", "true")
                    .save(path)
                )
            else:
                _conform(spark, settings, path, mapping)
                _append_once(settings, inserts, path, batch_id(f"{schema}.{table}", objects, new))
        else:
            latest = changes if deduplicated else latest_changes(changes, keys, ORDER)
            if not exists or rebuild:
                (
                    latest.where(F.col("Op") != "D")
                    .select(*columns)
                    .write.format("delta")
                    .mode("overwrite")
                    .option("overwriteSchema", "true")
                    .save(path)
                )
            else:
                _conform(spark, settings, path, mapping)
                _merge(spark, path, latest, columns, keys)
    manifest.record({k: objects[k] for k in new})
    return BronzeResult(f"{schema}.{table}", len(new), rows_in, path)


def _conform(spark: SparkSession, settings: Settings, path: str, mapping: TableMapping) -> None:
    """Bring the Delta table to the mapping's shape before a MERGE.

    Added columns: an empty append with mergeSchema, a schema commit of its own. A
    rename, a dropped column or a changed type: the table is rewritten (one overwrite
    commit), since Delta cannot rename or retype a column in place without column
    mapping.
    """
    target = spark.read.format("delta").load(path)
    wanted = mapping.arrow_types()
    current = {f.name: f.dataType for f in target.schema.fields}
    renames = {old: new for old, new in mapping.renames if old in current and new not in current}
    dropped = [c for c in current if c not in wanted and c not in renames]
    probe = arrow_frame(spark, pa.table({c: pa.array([], typ) for c, typ in wanted.items()}))
    typed = {f.name: f.dataType for f in probe.schema.fields}
    retyped = [c for c in current if c in typed and typed[c] != current[c]]
    if renames or dropped or retyped:
        rewritten = target
        for old, new in renames.items():
            rewritten = rewritten.withColumnRenamed(old, new)
        here = set(rewritten.columns)
        rewritten = rewritten.select(
            *[(F.col(c) if c in here else F.lit(None)).cast(typed[c]).alias(c) for c in wanted]
        )
        with lake_frame(spark, rewritten.toArrow(), settings) as detached:  # from the read
            writer = detached.write.format("delta").mode("overwrite")
            writer.option("overwriteSchema", "true").save(path)
        return
    added = [c for c in wanted if c not in current]
    if added:
        # Schema evolution as its own commit: an empty append that adds the columns.
        empty = probe.select(*current, *added).limit(0)
        empty.write.format("delta").mode("append").option("mergeSchema", "true").save(path)


def _merge(
    spark: SparkSession, path: str, changes: DataFrame, columns: list[str], keys: list[str]
) -> None:
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


def run_bronze(
    spark: SparkSession, settings: Settings, progress: Progress | None = None
) -> list[BronzeResult]:
    """Every table DMS landed in raw, then every event stream.

    A table that cannot be applied does not stop the others; the run fails at the end
    with one error naming every such table.
    """
    results = []
    failed: list[str] = []
    s3 = s3_client(settings)
    remove_prefix(s3, settings.lake_bucket, SPILL_PREFIX)  # what a killed run left
    for schema, table in raw_tables(s3, settings.raw_bucket, settings.dms):
        try:
            r = bronze_cdc_table(spark, settings, table, schema=schema)
        except BronzeError as exc:
            failed.append(str(exc))
            if progress:
                progress(f"bronze {schema}.{table}: FAILED {exc}")
            continue
        results.append(r)
        if progress:
            progress(f"bronze {r.table}: {r.files} new raw files, {r.rows_in} rows")
    for stream in STREAMS:
        r = bronze_event_stream(spark, settings, stream)
        results.append(r)
        if progress:
            progress(f"bronze events {stream}: {r.files} new objects, {r.rows_in} events")
    if failed:
        raise BronzeError(f"bronze: {len(failed)} raw table(s) not applied: " + "; ".join(failed))
    return results
