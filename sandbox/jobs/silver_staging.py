"""Silver's staging area: every table is written and checked here before any is published.

Delta commits one table at a time, so "all silver tables or none" needs a second copy:

    s3://<lake>/silver/_staging/<run>/<domain>/<table>/                passed rows
    s3://<lake>/silver/_staging/<run>/<domain>/_quarantine/<table>/    quarantined rows
    s3://<lake>/silver/_staging/<run>/_PUBLISH.json                    intent to publish

A run stages every table (later tables read earlier ones back from here) and checks
each one's rules. A failing rule discards the staging area: the published tables keep
their previous Delta version. Only when every table passed is ``_PUBLISH.json``
written, then each staged table is copied over its published one and the area removed.
A crash after the marker and before the removal is rolled forward by ``recover`` (the
next silver run calls it first, and gold refuses to read while one is pending); a crash
before the marker leaves the published tables untouched and the area is discarded.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from pyspark.sql import DataFrame, SparkSession

from sandbox.jobs.layers import quarantine_path, silver_path
from sandbox.platform.errors import SandboxError
from sandbox.platform.progress import Progress
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.settings import Settings

STAGING = "_staging"
MARKER = "_PUBLISH.json"


class SilverPublishPending(SandboxError):
    """A silver publish was interrupted; the next silver run completes it."""


def _write(df: DataFrame, path: str) -> None:
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)


class SilverStaging:
    """One run's staging area on the lake bucket."""

    def __init__(self, spark: SparkSession, settings: Settings, run: str | None = None) -> None:
        self.spark = spark
        self.settings = settings
        # Sortable, so that pending publishes are completed in the order they were made.
        self.run = run or f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.prefix = f"silver/{STAGING}/{self.run}/"

    def path(self, domain: str, table: str) -> str:
        return self.settings.lake_uri("silver", STAGING, self.run, domain, table)

    def quarantine_path(self, domain: str, table: str) -> str:
        return self.settings.lake_uri("silver", STAGING, self.run, domain, "_quarantine", table)

    def stage(self, domain: str, table: str, passed: DataFrame, quarantined: DataFrame):
        """Write a table's split here; returns both read back (passed, quarantined)."""
        path, qpath = self.path(domain, table), self.quarantine_path(domain, table)
        _write(passed, path)
        _write(quarantined, qpath)
        read = self.spark.read.format("delta")
        return read.load(path), read.load(qpath)

    def publish(self, tables: list[tuple[str, str]], progress: Progress | None = None) -> None:
        """Record the intent, copy every staged table over its published one, clean up."""
        body = json.dumps({"run": self.run, "tables": tables}).encode()
        s3_client(self.settings).put_object(
            self.settings.lake_bucket, self.prefix + MARKER, io.BytesIO(body), len(body)
        )
        self._copy(tables, progress)
        self.discard()

    def _copy(self, tables: list[tuple[str, str]], progress: Progress | None) -> None:
        read = self.spark.read.format("delta")
        for domain, table in tables:
            _write(read.load(self.path(domain, table)), silver_path(self.settings, domain, table))
            _write(read.load(self.quarantine_path(domain, table)),
                   quarantine_path(self.settings, domain, table))  # fmt: skip
            if progress:
                progress(f"silver {domain}.{table}: published (staging run {self.run})")

    def discard(self) -> None:
        """Remove this run's staging area (published tables are not touched)."""
        s3 = s3_client(self.settings)
        bucket = self.settings.lake_bucket
        keys = [DeleteObject(o.object_name)
                for o in s3.list_objects(bucket, self.prefix, recursive=True)]  # fmt: skip
        errors = list(s3.remove_objects(bucket, keys))
        if errors:
            raise SandboxError(f"silver: could not remove staging {self.prefix}: {errors[0]}")

    def pending(self) -> list[tuple[str, str]] | None:
        """The tables of an interrupted publish of this run, or None if it never began."""
        s3 = s3_client(self.settings)
        try:
            body = s3.get_object(self.settings.lake_bucket, self.prefix + MARKER)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return None
            raise
        try:
            return [tuple(t) for t in json.loads(body.read())["tables"]]
        finally:
            body.close()
            body.release_conn()


def staged_runs(settings: Settings) -> list[str]:
    """Runs that left a staging area behind (interrupted or failed), oldest first."""
    prefix = f"silver/{STAGING}/"
    # From the objects, not the folders: SeaweedFS keeps a folder after its last object.
    objects = s3_client(settings).list_objects(settings.lake_bucket, prefix, recursive=True)
    return sorted({o.object_name[len(prefix) :].split("/", 1)[0] for o in objects})


def pending_publishes(settings: Settings) -> list[str]:
    """Runs whose publish began and did not finish."""
    prefix = f"silver/{STAGING}/"
    objects = s3_client(settings).list_objects(settings.lake_bucket, prefix, recursive=True)
    return sorted(o.object_name[len(prefix) :].split("/", 1)[0]
                  for o in objects if o.object_name.endswith(f"/{MARKER}"))  # fmt: skip


def recover(spark: SparkSession, settings: Settings, progress: Progress | None = None) -> list[str]:
    """Finish every interrupted publish, discard every abandoned staging area.

    Returns the runs whose publish was completed.
    """
    completed = []
    for run in staged_runs(settings):
        area = SilverStaging(spark, settings, run)
        tables = area.pending()
        if tables is None:
            area.discard()
            continue
        if progress:
            progress(f"silver: completing the interrupted publish of run {run}")
        area._copy(tables, progress)
        area.discard()
        completed.append(run)
    return completed
