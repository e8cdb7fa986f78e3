"""Layer conventions, declared once: where each layer's tables live and their keys.

Jobs take paths from here instead of spelling them, so a layout change is one edit.

    s3://<lake>/bronze/<schema>/<table>/           Delta, replica of the source
    s3://<lake>/bronze/events/<stream>/            Delta, events, partitioned by event_date
    s3://<lake>/silver/<domain>/<table>/           Delta (+ silver/<domain>/_quarantine/<table>)
    s3://<lake>/gold/<mart>/                       Delta
    s3://<lake>/_manifests/<layer>/<name>.json     raw objects already processed (etags)
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minio import Minio
from minio.error import S3Error

from sandbox.platform import Settings

if TYPE_CHECKING:  # no Spark at import: tasks without Spark read layer paths too
    from pyspark.sql import DataFrame, SparkSession

    from sandbox.jobs.fingerprint import TableState

# The game schema's source tables, which silver reads, with their primary keys. Bronze on S3
# takes keys from the DMS task's table mappings; local runs over Parquet use these.
SOURCE_KEYS: dict[str, list[str]] = {
    "plans": ["plan_id"],
    "players": ["player_id"],
    "subscriptions": ["subscription_id"],
    "payments": ["payment_id"],
    "lobbies": ["lobby_id"],
    "matches": ["match_id"],
    "match_players": ["match_id", "player_id"],
}

EVENTS_SCHEMA = "events"

# Money in BRL: one decimal type from silver on, so sums never drift through floats.
BRL = "decimal(14,2)"


def bronze_path(settings: Settings, schema: str, table: str) -> str:
    """The bronze replica of source table ``schema.table``."""
    return settings.lake_uri("bronze", schema, table)


def bronze_events_path(settings: Settings, stream: str) -> str:
    """The bronze table of an event stream."""
    return settings.lake_uri("bronze", EVENTS_SCHEMA, stream.replace("-", "_"))


def silver_path(settings: Settings, domain: str, table: str) -> str:
    """The silver table ``table`` of ``domain``."""
    return settings.lake_uri("silver", domain, table)


def quarantine_path(settings: Settings, domain: str, table: str) -> str:
    """Where silver keeps the rows of ``domain.table`` a quality rule turned away."""
    return settings.lake_uri("silver", domain, "_quarantine", table)


def gold_path(settings: Settings, mart: str) -> str:
    """The gold mart ``mart``."""
    return settings.lake_uri("gold", mart)


class Manifest:
    """The raw objects a job has processed, by key and etag, stored next to the lake.

    It is written after the Delta commit it describes. A crash in between means the
    same objects are processed again, which the jobs make harmless (MERGE on keys).
    An object rewritten with new content (new etag) is processed again.
    """

    def __init__(self, s3: Minio, bucket: str, name: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = f"_manifests/{name}.json"
        self.files: dict[str, str] = {}
        try:
            body = s3.get_object(bucket, self.key)
            self.files = json.loads(body.read())["files"]
            body.close()
            body.release_conn()
        except S3Error as exc:
            if exc.code != "NoSuchKey":
                raise

    def new(self, current: dict[str, str]) -> list[str]:
        """Keys of ``current`` (key -> etag) not processed yet, in the given order."""
        return [k for k, etag in current.items() if self.files.get(k) != etag]

    def record(self, processed: dict[str, str]) -> None:
        self.files.update(processed)
        body = json.dumps({"files": self.files}, indent=0).encode()
        self.s3.put_object(
            self.bucket, self.key, io.BytesIO(body), len(body), content_type="application/json"
        )


def read_delta(spark: SparkSession, uri: str, state: TableState | None = None) -> DataFrame:
    """A Delta table as a frame: at the version of ``state`` if given, else the latest."""
    reader = spark.read.format("delta")
    if state is not None:
        reader = reader.option("versionAsOf", state.version)
    return reader.load(uri)


@dataclass(frozen=True)
class BronzeResult:
    """What one bronze job applied: the table (``schema.table``, or the event stream),
    the raw objects it read, the rows in them, and the bronze table's location."""

    table: str
    files: int
    rows_in: int
    path: str


def is_delta(settings: Settings, path: str) -> bool:
    """Whether a Delta table exists at ``path`` (its log has a commit)."""
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(path, storage_options=settings.s3_storage_options())
