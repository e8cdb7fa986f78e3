"""A Kinesis Data Firehose delivery stream to S3, with a crash-safe local spool.

Producers ``put_record`` into the stream's spool (``<home>/spool/firehose/<stream>/``):
each record is appended to the open segment file as a checksummed frame (see
:mod:`sandbox.ingest.events.spool`) and fdatasync'ed before ``put_record`` returns, so
an accepted record survives ``kill -9`` of the producer and a power cut. A segment is closed when it
reaches the size hint, when it is older than the interval hint, or when the arrival
hour changes. Delivery (``flush``) turns each closed segment into one S3 object:

    events/<stream>/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]
    events-errors/<stream>/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>   (failures)

in UTC by the arrival time of the segment's first record. The object name is derived
from the segment, so a delivery interrupted after the upload re-uploads the same name
(never a second object); the segment is deleted only after its objects are in S3.
Records are processed on delivery (JSON, known type, schema); failures go to the
error prefix with their reason and original bytes, never silently away. So do spool
bytes that fail their checksum (a torn tail left by a crash mid-append, or damage),
which the delivery report also names.

One flusher per stream at a time: ``flush`` holds the stream's flush lock, so a
second flusher (another process, or ``--follow`` beside a one-shot flush) waits and
then finds the segments already delivered. Producers take a separate lock, so they
are not held up by an upload.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from minio import Minio
from pydantic import ValidationError

from sandbox.ingest.events.limits import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES,
    FirehoseValidationError,
    check_limits,
)
from sandbox.ingest.events.schemas import EVENT_ADAPTER, EVENT_TYPES
from sandbox.ingest.events.spool import (
    FileLock,
    SpoolDamage,
    append_durably,
    create_segment,
    encode_frames,
    scan_segment,
)

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "MAX_RECORD_BYTES",
    "BufferHints",
    "DeliveryReport",
    "DeliveryStream",
    "FirehoseValidationError",
    "check_limits",
    "check_record",
]

_KEY_NAMESPACE = uuid.UUID("6f1c1f8e-6a43-4d7c-9d0a-3b5c2f6f9a10")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BufferHints:
    """When a buffer is delivered: whichever of size and interval comes first.

    Production accepts 1-128 MiB and 60-900 s; the sandbox also takes small values.
    """

    size_mib: float = 5.0
    interval_s: float = 60.0

    @property
    def size_bytes(self) -> int:
        return int(self.size_mib * 1024 * 1024)


@dataclass
class DeliveryReport:
    """What a delivery wrote: the objects under the prefix and the error prefix, records
    delivered and failed (with the reasons counted), and spool damage found."""

    objects: list[str] = field(default_factory=list)
    error_objects: list[str] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    damage: list[str] = field(default_factory=list)  # spool bytes that failed their checksum

    def merge(self, other: DeliveryReport) -> None:
        self.objects += other.objects
        self.error_objects += other.error_objects
        self.delivered += other.delivered
        self.failed += other.failed
        self.damage += other.damage
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


def check_record(data: bytes) -> tuple[str, str] | None:
    """None if the record is a valid event (bare or in an SNS envelope), else (code, reason)."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return "InvalidJSON", f"not JSON: {exc}"
    event_json: str | bytes = data
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        try:
            event_json = doc["Message"]
            doc = json.loads(event_json)
        except (json.JSONDecodeError, TypeError) as exc:
            return "InvalidJSON", f"SNS Message is not JSON: {exc}"
    if not isinstance(doc, dict):
        return "SchemaViolation", "an event must be a JSON object"
    event_type = doc.get("event_type")
    if event_type not in EVENT_TYPES:
        return "UnknownEventType", f"unknown event_type {event_type!r}"
    try:
        EVENT_ADAPTER.validate_json(event_json)  # strict: the JSON types as sent
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "event"
        return "SchemaViolation", f"{event_type}: {where}: {first['msg']}"
    return None


class DeliveryStream:
    """One Firehose delivery stream: a spool on disk, delivered to an S3 bucket."""

    def __init__(
        self,
        name: str,
        spool_root: Path,
        *,
        hints: BufferHints | None = None,
        s3: Minio | None = None,
        bucket: str = "raw",
        prefix: str = "events",
        error_prefix: str = "events-errors",
        compress: bool = False,
        newline_delimiter: bool = True,
    ) -> None:
        self.name = name
        self.dir = spool_root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hints = hints or BufferHints()
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.error_prefix = error_prefix
        self.compress = compress
        self.newline_delimiter = newline_delimiter
        self._lock_path = self.dir / ".lock"
        self._flush_lock_path = self.dir / ".flush.lock"
        # path, file, first arrival, arrival hour
        self._open: tuple[Path, io.FileIO, float, int] | None = None

    # -- producer side -----------------------------------------------------------

    def put_record(self, data: bytes) -> None:
        """Accept one record; durable when this returns (see :meth:`put_record_batch`).
        A record over 1,000 KiB is refused (:class:`FirehoseValidationError`)."""
        check_limits([data], batch=False)
        self.deliver_records([data])

    def put_record_batch(self, records: Iterable[bytes]) -> int:
        """PutRecordBatch: the request is refused whole (:class:`FirehoseValidationError`)
        when a record is over 1,000 KiB or the batch over 500 records or 4 MiB, as AWS
        refuses it; else the records are appended (see :meth:`deliver_records`)."""
        listed = list(records)
        check_limits(listed, batch=True)
        return self.deliver_records(listed)

    def deliver_records(self, records: Iterable[bytes]) -> int:
        """Append records to the spool; when this returns they survive a crash.

        Each record is its own PutRecord (what an SNS subscription sends, one per
        message): one over 1,000 KiB is refused before any is appended.

        The frames are written whole (a short write is continued) and the segment is
        fdatasync'ed before this returns; a new segment's directory entry is fsynced
        when the segment is created. So an accepted record survives ``kill -9`` and
        a power cut. If the append fails, it raises and the segment is left as it
        was: none of the batch is accepted. Returns the bytes appended.
        """
        listed = list(records)
        for record in listed:
            check_limits([record], batch=False)
        now = time.time()
        payload = encode_frames(listed, int(now * 1000))
        if not payload:
            return 0
        with self._locked():
            _path, fh = self._current_segment(now)
            append_durably(fh.fileno(), payload)
            size = os.fstat(fh.fileno()).st_size
            if size >= self.hints.size_bytes:
                self._close_open()
        return len(payload)

    def _current_segment(self, now: float):
        if self._open is not None:
            path, fh, first, hour = self._open
            rotated = not path.exists()  # a flusher closed it under the lock
            if rotated:
                fh.close()
                self._open = None
            elif now - first >= self.hints.interval_s or int(now // 3600) != hour:
                self._close_open()
        if self._open is None:
            path = self.dir / f"seg-{time.time_ns():020d}-{os.getpid()}.open"
            self._open = (path, create_segment(path), now, int(now // 3600))
        return self._open[0], self._open[1]

    def _close_open(self) -> None:
        if self._open is None:
            return
        path, fh, _, _ = self._open
        fh.close()
        if path.exists():
            path.rename(path.with_suffix(".ready"))
        self._open = None

    def close(self) -> None:
        """Close this producer's open segment so the next flush delivers it."""
        with self._locked():
            self._close_open()

    def _locked(self) -> FileLock:
        return FileLock(self._lock_path)

    # -- delivery side -------------------------------------------------------------

    def flush(self, *, force: bool = False) -> DeliveryReport:
        """Deliver closed segments; with ``force``, also the open ones (of any producer).

        Waits for a flush of the same stream in progress elsewhere, so every record
        is delivered by exactly one flusher. With ``force``, every record accepted
        before the call is in S3 when it returns.
        """
        with FileLock(self._flush_lock_path):
            with self._locked():
                self._close_stale(force)
            report = DeliveryReport()
            for seg in sorted(self.dir.glob("seg-*.ready")):
                report.merge(self._deliver(seg))
        return report

    def pending_records(self) -> int:
        """Records spooled and not delivered yet (damaged bytes not counted)."""
        total = 0
        for seg in self.dir.glob("seg-*"):
            try:
                total += len(scan_segment(seg.read_bytes()).frames)
            except FileNotFoundError:
                continue  # delivered (or renamed) since the listing
        return total

    def _close_stale(self, force: bool) -> None:
        now = time.time()
        for seg in self.dir.glob("seg-*.open"):
            blob = seg.read_bytes()
            frames = scan_segment(blob).frames
            if not frames:
                if force or now - seg.stat().st_mtime > self.hints.interval_s:
                    if blob:  # only damage: deliver it to the error prefix, with a report
                        seg.rename(seg.with_suffix(".ready"))
                    else:  # an empty segment: nothing to deliver
                        seg.unlink(missing_ok=True)
                continue
            first = frames[0][0]
            age = now - first / 1000
            if force or age >= self.hints.interval_s or int(now // 3600) != first // 3_600_000:
                seg.rename(seg.with_suffix(".ready"))

    def object_key(self, seg: Path, first_arrival_ms: int, *, errors: bool = False) -> str:
        t = datetime.fromtimestamp(first_arrival_ms / 1000, UTC)
        token = uuid.uuid5(_KEY_NAMESPACE, f"{self.name}/{seg.stem}")
        root = self.error_prefix if errors else self.prefix
        name = f"{self.name}-1-{t:%Y-%m-%d-%H-%M-%S}-{token}"
        if self.compress and not errors:
            name += ".gz"
        return f"{root}/{self.name}/{t:%Y/%m/%d/%H}/{name}"

    def _deliver(self, seg: Path) -> DeliveryReport:
        if self.s3 is None:
            raise RuntimeError(f"firehose {self.name}: no S3 client to deliver to")
        try:
            blob = seg.read_bytes()
            mtime_ms = int(seg.stat().st_mtime * 1000)
        except FileNotFoundError:
            return DeliveryReport()  # delivered by a flusher that does not take the lock
        scan = scan_segment(blob)
        report = DeliveryReport()
        if not scan.frames and not scan.damage:
            seg.unlink(missing_ok=True)
            return report
        good: list[bytes] = []
        bad: list[bytes] = []
        sep = b"\n" if self.newline_delimiter else b""
        for arrival, data in scan.frames:
            problem = check_record(data)
            if problem is None:
                good.append(data + sep)
            else:
                bad.append(self._error_record(report, arrival, *problem, data))
        for damage in scan.damage:
            report.damage.append(damage.describe(f"firehose {self.name} {seg.name}"))
            log.warning("%s; its bytes go to the error prefix", report.damage[-1])
            bad.append(self._damage_record(report, damage, mtime_ms))
        first = scan.frames[0][0] if scan.frames else mtime_ms
        if good:
            body = b"".join(good)
            if self.compress:
                body = gzip.compress(body, mtime=0)  # mtime=0: same bytes on re-delivery
            key = self.object_key(seg, first)
            self._put(key, body)
            report.objects.append(key)
        if bad:
            key = self.object_key(seg, first, errors=True)
            self._put(key, b"".join(bad))
            report.error_objects.append(key)
        report.delivered, report.failed = len(good), len(bad)
        seg.unlink(missing_ok=True)  # only now: a crash before this re-delivers to the same keys
        return report

    def _error_record(
        self, report: DeliveryReport, arrival: int, code: str, reason: str, data: bytes
    ) -> bytes:
        """A Firehose error record (one JSON line) keeping the original bytes."""
        report.reasons[code] = report.reasons.get(code, 0) + 1
        return (
            json.dumps(
                {
                    "attemptsMade": 1,
                    "arrivalTimestamp": arrival,
                    "errorCode": code,
                    "errorMessage": reason,
                    "rawData": base64.b64encode(data).decode(),
                    "deliveryStreamName": self.name,
                }
            ).encode()
            + b"\n"
        )

    def _damage_record(self, report: DeliveryReport, damage: SpoolDamage, mtime_ms: int) -> bytes:
        if damage.kind == "torn_tail":
            code = "SpoolTornTail"
            reason = "a record cut short by a crash mid-append (it was never acknowledged)"
        else:
            code = "SpoolChecksumMismatch"
            reason = "spool bytes that fail their checksum (damaged after they were written)"
        arrival = damage.arrival_ms if damage.arrival_ms is not None else mtime_ms
        return self._error_record(report, arrival, code, reason, damage.data)

    def _put(self, key: str, body: bytes) -> None:
        assert self.s3 is not None  # _deliver, the only caller, checked it
        ctype = "application/gzip" if key.endswith(".gz") else "application/x-ndjson"
        self.s3.put_object(self.bucket, key, io.BytesIO(body), len(body), content_type=ctype)
