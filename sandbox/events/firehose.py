"""A Kinesis Data Firehose delivery stream to S3, with a crash-safe local spool.

Producers ``put_record`` into the stream's spool (``<home>/spool/firehose/<stream>/``):
each record is appended to the open segment file before ``put_record`` returns, so an
accepted record survives ``kill -9`` of the producer. A segment is closed when it
reaches the size hint, when it is older than the interval hint, or when the arrival
hour changes. Delivery (``flush``) turns each closed segment into one S3 object:

    events/<stream>/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]
    events-errors/<stream>/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>   (failures)

in UTC by the arrival time of the segment's first record. The object name is derived
from the segment, so a delivery interrupted after the upload re-uploads the same name
(never a second object); the segment is deleted only after its objects are in S3.
Records are processed on delivery (JSON, known type, schema); failures go to the
error prefix with their reason and original bytes, never silently away.
"""

from __future__ import annotations

import base64
import fcntl
import gzip
import io
import json
import os
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from minio import Minio
from pydantic import ValidationError

from sandbox.events.schemas import EVENT_ADAPTER, EVENT_TYPES

_FRAME = struct.Struct(">IQ")  # record length, arrival time in ms
_KEY_NAMESPACE = uuid.UUID("6f1c1f8e-6a43-4d7c-9d0a-3b5c2f6f9a10")
Progress = Callable[[str], None]


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
    objects: list[str] = field(default_factory=list)
    error_objects: list[str] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def merge(self, other: DeliveryReport) -> None:
        self.objects += other.objects
        self.error_objects += other.error_objects
        self.delivered += other.delivered
        self.failed += other.failed
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


def check_record(data: bytes) -> tuple[str, str] | None:
    """None if the record is a valid event (bare or in an SNS envelope), else (code, reason)."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return "InvalidJSON", f"not JSON: {exc}"
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        try:
            doc = json.loads(doc["Message"])
        except (json.JSONDecodeError, TypeError) as exc:
            return "InvalidJSON", f"SNS Message is not JSON: {exc}"
    if not isinstance(doc, dict):
        return "SchemaViolation", "an event must be a JSON object"
    event_type = doc.get("event_type")
    if event_type not in EVENT_TYPES:
        return "UnknownEventType", f"unknown event_type {event_type!r}"
    try:
        EVENT_ADAPTER.validate_python(doc)
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
        self._open: tuple[Path, object, float, int] | None = None  # path, file, first arrival

    # -- producer side -----------------------------------------------------------

    def put_record(self, data: bytes) -> None:
        self.put_record_batch([data])

    def put_record_batch(self, records: Iterable[bytes]) -> int:
        """Append records to the spool; when this returns they survive a crash."""
        now = time.time()
        arrival = int(now * 1000)
        payload = b"".join(_FRAME.pack(len(r), arrival) + r for r in records)
        if not payload:
            return 0
        with self._locked():
            _path, fh = self._current_segment(now)
            os.write(fh.fileno(), payload)
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
            fh = open(path, "ab")  # noqa: SIM115 - kept open across calls
            self._open = (path, fh, now, int(now // 3600))
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

    def _locked(self):
        return _FileLock(self._lock_path)

    # -- delivery side -------------------------------------------------------------

    def flush(self, *, force: bool = False) -> DeliveryReport:
        """Deliver closed segments; with ``force``, also the open ones (of any producer)."""
        with self._locked():
            self._close_stale(force)
        report = DeliveryReport()
        for seg in sorted(self.dir.glob("seg-*.ready")):
            report.merge(self._deliver(seg))
        return report

    def pending_records(self) -> int:
        return sum(1 for seg in self.dir.glob("seg-*") for _ in _frames(seg.read_bytes()))

    def _close_stale(self, force: bool) -> None:
        now = time.time()
        for seg in self.dir.glob("seg-*.open"):
            frames = _frames(seg.read_bytes())
            first = next(frames, None)
            if first is None:
                if force or now - seg.stat().st_mtime > self.hints.interval_s:
                    seg.unlink(missing_ok=True)  # an empty segment: nothing to deliver
                continue
            age = now - first[0] / 1000
            if (
                force
                or age >= self.hints.interval_s
                or int(now // 3600) != int(first[0] // 3_600_000)
            ):
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
        frames = list(_frames(seg.read_bytes()))
        report = DeliveryReport()
        if not frames:
            seg.unlink()
            return report
        good: list[bytes] = []
        bad: list[bytes] = []
        sep = b"\n" if self.newline_delimiter else b""
        for arrival, data in frames:
            problem = check_record(data)
            if problem is None:
                good.append(data + sep)
                continue
            code, reason = problem
            report.reasons[code] = report.reasons.get(code, 0) + 1
            bad.append(json.dumps({
                "attemptsMade": 1,
                "arrivalTimestamp": arrival,
                "errorCode": code,
                "errorMessage": reason,
                "rawData": base64.b64encode(data).decode(),
                "deliveryStreamName": self.name,
            }).encode() + b"\n")  # fmt: skip
        first = frames[0][0]
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
        seg.unlink()  # only now: a crash before this re-delivers to the same keys
        return report

    def _put(self, key: str, body: bytes) -> None:
        ctype = "application/gzip" if key.endswith(".gz") else "application/x-ndjson"
        self.s3.put_object(self.bucket, key, io.BytesIO(body), len(body), content_type=ctype)


def _frames(blob: bytes) -> Iterator[tuple[int, bytes]]:
    """(arrival ms, record) for each complete frame; a torn tail (crash mid-write) is ignored."""
    pos = 0
    end = len(blob)
    while pos + _FRAME.size <= end:
        length, arrival = _FRAME.unpack_from(blob, pos)
        start = pos + _FRAME.size
        if start + length > end:
            return
        yield arrival, blob[start : start + length]
        pos = start + length


class _FileLock:
    """An exclusive ``flock`` on a file, shared by producers and the flusher."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _FileLock:
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
