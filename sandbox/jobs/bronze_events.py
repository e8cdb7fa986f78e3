"""Bronze events: one Delta table per Firehose stream, from the raw JSON objects.

Append-only, deduplicated on ``event_id``, partitioned by ``event_date``; SNS envelopes
are unwrapped. Only objects not in the stream's manifest are read.

Every Firehose setting gives the same rows: each raw object is read whole, gunzipped
when it starts with the gzip magic bytes (Firehose's GZIP adds ``.gz`` to the name,
the content decides), and split into records whether they are newline-delimited or
concatenated as sent (Firehose's default), with or without the SNS envelope. A record
bronze cannot read is an error naming the object, never a row silently dropped.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from sandbox.jobs.layers import BronzeResult, Manifest, bronze_events_path, is_delta
from sandbox.platform import SandboxError, Settings
from sandbox.platform.services import s3_client

GZIP_MAGIC = b"\x1f\x8b"
_JSON_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()
# Record text handed to Spark per MERGE: bounds the memory one batch of objects takes.
BATCH_BYTES = 64 * 1024 * 1024


class RawEventsError(SandboxError):
    """A raw Firehose object bronze cannot read as events (names the object)."""


# -- records: bytes in, records out (pure) ---------------------------------------


def split_records(text: str) -> list[str]:
    """The JSON objects in a Firehose object body, each as its own text, in order.

    Records may be newline-delimited or concatenated with nothing between them (both
    Firehose settings); any JSON whitespace between records is allowed. Braces and
    quotes inside strings are handled by a real JSON decoder. Raises ``ValueError``
    (with the character offset) for anything that is not a sequence of JSON objects.
    """
    records: list[str] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _JSON_WHITESPACE:
            pos += 1
        if pos == end:
            return records
        try:
            doc, stop = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ValueError(f"offset {pos}: not a JSON record: {exc.msg} at {exc.pos}") from None
        if not isinstance(doc, dict):
            # Concatenated scalars are ambiguous ("12" "3" reads as 123): only objects.
            raise ValueError(
                f"offset {pos}: a record must be a JSON object, got {text[pos:stop]!r:.60}"
            )
        records.append(text[pos:stop])
        pos = stop


def event_id_of(record: str) -> str | None:
    """The ``event_id`` of a record: a bare event or one inside an SNS envelope."""
    doc = json.loads(record)
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        try:
            doc = json.loads(doc["Message"])
        except json.JSONDecodeError:
            return None
    event_id = doc.get("event_id") if isinstance(doc, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def object_records(key: str, body: bytes) -> list[str]:
    """The event records of one raw object; ``RawEventsError`` naming ``key`` if any is bad."""
    if body[:2] == GZIP_MAGIC:
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise RawEventsError(f"raw events object {key}: bad gzip: {exc}") from None
    try:
        records = split_records(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RawEventsError(f"raw events object {key}: not UTF-8 at byte {exc.start}") from None
    except ValueError as exc:
        raise RawEventsError(f"raw events object {key}: {exc}") from None
    for i, record in enumerate(records):
        if event_id_of(record) is None:
            raise RawEventsError(f"raw events object {key}: record {i} has no event_id")
    return records


# -- transforms: DataFrame in, DataFrame out ------------------------------------


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
    """One row per ``event_id``, the earliest: Firehose and SNS deliver at least once."""
    w = Window.partitionBy("event_id").orderBy(F.col("event_time"))
    return events.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")


# -- job: I/O at the edges -------------------------------------------------------


def bronze_event_stream(spark: SparkSession, settings: Settings, stream: str) -> BronzeResult:
    """Append the new Firehose objects of ``stream``, skipping event ids already there.

    Objects are applied in batches (by name order); each batch's MERGE is followed by
    its manifest entry, so a crash re-reads at most one batch, which the MERGE on
    ``event_id`` makes harmless. Raises ``RawEventsError`` naming the first object
    that cannot be read, before anything of its batch is written.
    """
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
    rows_in = 0
    for keys, records in _batches(s3, settings.raw_bucket, new):
        if records:  # objects with no records (empty bodies) only go to the manifest
            lines = spark.createDataFrame(pa.table({"value": pa.array(records, pa.string())}))
            events = dedupe_events(unwrap_events(lines))
            rows_in += events.count()
            _append_new_events(spark, settings, path, events)
        manifest.record({k: objects[k] for k in keys})
    return BronzeResult(stream, len(new), rows_in, path)


def _batches(s3, bucket: str, keys: list[str]) -> Iterator[tuple[list[str], list[str]]]:
    batch_keys: list[str] = []
    records: list[str] = []
    size = 0
    for key in keys:
        response = s3.get_object(bucket, key)
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
        batch_keys.append(key)
        found = object_records(key, body)
        records += found
        size += sum(len(r) for r in found)  # decompressed: what Spark is handed
        if size >= BATCH_BYTES:
            yield batch_keys, records
            batch_keys, records, size = [], [], 0
    if batch_keys:
        yield batch_keys, records


def _append_new_events(
    spark: SparkSession, settings: Settings, path: str, events: DataFrame
) -> None:
    if not is_delta(settings, path):
        events.write.format("delta").mode("overwrite").partitionBy("event_date").save(path)
        return
    view = f"_bronze_events_{abs(hash(path))}"
    events.createOrReplaceTempView(view)
    spark.sql(
        f"MERGE INTO delta.`{path}` t USING {view} s ON t.event_id = s.event_id "
        f"WHEN NOT MATCHED THEN INSERT *"
    ).collect()
    spark.catalog.dropTempView(view)
