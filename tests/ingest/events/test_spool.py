"""The Firehose spool is crash-safe: checksums, torn tails, durable appends, one flusher."""

from __future__ import annotations

import base64
import errno
import json
import os
import threading
import time
import types
from pathlib import Path

import pytest

from sandbox.ingest.events import spool
from sandbox.ingest.events.firehose import DeliveryStream
from sandbox.ingest.events.spool import HEADER, encode_frames, scan_segment
from tests.ingest.events.test_firehose import MemoryS3, login, records_in, stream


def ready_segment(tmp_path: Path) -> Path:
    (seg,) = (tmp_path / "spool" / "gameplay-events").glob("seg-*.ready")
    return seg


def errors_in(s3: MemoryS3) -> list[dict]:
    return [json.loads(line) for line in records_in(s3, "events-errors/")]


def frame_offsets(blob: bytes) -> list[int]:
    offsets, pos = [], 0
    while pos < len(blob):
        offsets.append(pos)
        pos += HEADER.size + HEADER.unpack_from(blob, pos)[1]
    return offsets


@pytest.mark.parametrize(
    "cut",
    [
        5,  # the crash hit inside the frame header
        HEADER.size + 10,  # the header is whole, the record is cut short
    ],
)
def test_torn_tail_is_reported_and_the_records_before_it_delivered(
    tmp_path: Path, cut: int
) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    good = [login(i) for i in range(5)]
    fh.put_record_batch(good)
    fh.close()
    torn = encode_frames([login(99)], 0)[:cut]
    with ready_segment(tmp_path).open("ab") as f:
        f.write(torn)  # half an append, as a power cut leaves it
    report = fh.flush()
    assert records_in(s3) == good
    assert (report.delivered, report.failed) == (5, 1)
    (damage,) = report.damage
    assert "torn tail" in damage and f"{cut} bytes" in damage
    (error,) = errors_in(s3)
    assert error["errorCode"] == "SpoolTornTail"
    # the torn bytes are kept in the error record (the record part if the header is whole)
    kept = torn[HEADER.size :] if cut > HEADER.size else torn
    assert base64.b64decode(error["rawData"]) == kept
    assert fh.pending_records() == 0


@pytest.mark.parametrize(
    ("where", "lost"),
    [
        (lambda off: off[2] + HEADER.size + 3, 1),  # a byte of record 2: only it fails
        (lambda off: off[2] + 6, 1),  # its length field: skip to the next good frame
        (lambda off: off[2], 1),  # its magic
    ],
)
def test_a_bad_checksum_is_reported_not_delivered_as_garbage(
    tmp_path: Path, where, lost: int
) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    good = [login(i) for i in range(5)]
    fh.put_record_batch(good)
    fh.close()
    seg = ready_segment(tmp_path)
    blob = bytearray(seg.read_bytes())
    blob[where(frame_offsets(bytes(blob)))] ^= 0x5A
    seg.write_bytes(bytes(blob))
    report = fh.flush()
    assert records_in(s3) == good[:2] + good[3:]
    assert report.delivered == 5 - lost and report.failed == 1
    assert ["corrupt frame" in d for d in report.damage] == [True]
    (error,) = errors_in(s3)
    assert error["errorCode"] == "SpoolChecksumMismatch"


def test_scan_reads_frames_after_damage_in_the_middle() -> None:
    frames = [encode_frames([f"r{i}".encode()], 1_000 + i) for i in range(3)]
    blob = frames[0] + b"\x00" * 7 + frames[1] + frames[2]
    scan = scan_segment(blob)
    assert scan.frames == [(1000, b"r0"), (1001, b"r1"), (1002, b"r2")]
    (damage,) = scan.damage
    assert (damage.kind, damage.offset, damage.end) == (
        "corrupt",
        len(frames[0]),
        len(frames[0]) + 7,
    )


class SlowS3(MemoryS3):
    """Uploads that take a while, so two flushers surely overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def put_object(self, bucket, key, data, length, content_type=None):
        time.sleep(0.02)
        with self._lock:
            self.keys.append(key)
            super().put_object(bucket, key, data, length, content_type)


def test_two_concurrent_flushers_neither_crash_nor_double_deliver(tmp_path: Path) -> None:
    s3 = SlowS3()
    producer = stream(tmp_path, s3)
    for i in range(8):  # eight closed segments waiting for delivery
        producer.put_record_batch([login(i * 10 + j) for j in range(10)])
        producer.close()
    flushers = [stream(tmp_path, s3) for _ in range(2)]  # as two processes would have
    start = threading.Barrier(2)
    reports, failures = [], []

    def run(fh: DeliveryStream) -> None:
        start.wait()
        try:
            reports.append(fh.flush(force=True))
        except Exception as exc:  # collected: a crash in a thread must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(fh,)) for fh in flushers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sum(r.delivered for r in reports) == 80
    assert len(s3.keys) == len(set(s3.keys)) == 8  # each segment uploaded once
    assert sorted(json.loads(r)["player_id"] for r in records_in(s3)) == list(range(80))


def test_put_record_is_fdatasynced_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []  # segment size at each fdatasync
    dirs: list[int] = []
    real = os

    def fdatasync(fd: int) -> None:
        synced.append(real.fstat(fd).st_size)
        real.fdatasync(fd)

    def fsync(fd: int) -> None:
        dirs.append(fd)
        real.fsync(fd)

    monkeypatch.setattr(spool, "os", _os_with(fdatasync=fdatasync, fsync=fsync))
    fh = stream(tmp_path, MemoryS3())
    sizes = []
    for i in range(3):
        fh.put_record(login(i))
        (seg,) = fh.dir.glob("seg-*.open")
        sizes.append(seg.stat().st_size)
    assert synced == sizes  # every acknowledged byte was synced before the return
    assert len(dirs) == 1  # the new segment's directory entry, once


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool, "os", _os_with(write=lambda fd, data: os.write(fd, data[:7])))
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    good = [login(i) for i in range(4)]
    for record in good:
        fh.put_record(record)
    monkeypatch.undo()
    report = fh.flush(force=True)
    assert records_in(s3) == good and report.damage == []


def test_a_failed_append_is_not_accepted_and_leaves_no_half_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    first, second, third = login(1), login(2), login(3)
    fh.put_record(first)

    def disk_full_midway(fd: int, data) -> int:
        if len(data) > 20:
            return os.write(fd, data[:20])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool, "os", _os_with(write=disk_full_midway))
    with pytest.raises(OSError, match="No space"):
        fh.put_record(second)
    monkeypatch.undo()
    fh.put_record(third)
    report = fh.flush(force=True)
    assert records_in(s3) == [first, third] and report.damage == []


def _os_with(**overrides) -> types.SimpleNamespace:
    """The ``os`` module as the spool sees it, with some calls replaced."""
    names = {n: getattr(os, n) for n in dir(os) if not n.startswith("__")}
    return types.SimpleNamespace(**{**names, **overrides})
