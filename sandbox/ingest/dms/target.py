"""The DMS S3 target endpoint: the raw bucket, and what a task wrote to it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import cast

from minio import Minio
from minio.error import S3Error
from minio.helpers import DictType

from sandbox.platform.services import remove_prefix

MISSING = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")


@dataclass
class TableFile:
    """One object written for one table, with its row count."""

    key: str
    rows: int


@dataclass
class IngestReport:
    """What one run of the task wrote: its files, changes, batches and latencies."""

    full_load_files: list[TableFile] = field(default_factory=list)
    cdc_files: list[TableFile] = field(default_factory=list)
    changes: int = 0
    batches: int = 0
    # per transaction: seconds from its commit to its objects being in S3
    latencies_s: list[float] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        self.full_load_files += other.full_load_files
        self.cdc_files += other.cdc_files
        self.changes += other.changes
        self.batches += other.batches
        self.latencies_s += other.latencies_s


class RawTarget:
    """Writes, lists and removes the task's objects in the raw bucket."""

    def __init__(self, s3: Minio, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        self.s3.put_object(
            self.bucket,
            key,
            io.BytesIO(body),
            len(body),
            content_type="application/octet-stream",
            # minio asks for its own (invariant) dict type where any str mapping would do
            metadata=cast("DictType | None", metadata),
        )

    def remove_prefix(self, prefix: str) -> None:
        remove_prefix(self.s3, self.bucket, prefix)

    def metadata(self, key: str) -> dict[str, str] | None:
        """The object's user metadata (lower-case names), or None if it does not exist."""
        try:
            stat = self.s3.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in MISSING:
                return None
            raise
        return {k.lower(): v for k, v in (stat.metadata or {}).items()}
