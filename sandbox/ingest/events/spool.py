"""The Firehose spool on disk: segment files of checksummed frames, and their locks.

A segment is a sequence of frames, each a 22-byte header and the record's bytes:

    magic b"FH" | length u32 | arrival ms u64 | crc32(record) u32 | crc32(header so far) u32

(big-endian). The header checksum makes the length trustworthy, so a damaged record
is skipped without losing the frames after it; the record checksum catches damaged
bytes inside a record. Reading a segment never guesses: every byte that is not part
of a valid frame is returned as :class:`SpoolDamage`, for the caller to report.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MAGIC = b"FH"
HEADER = struct.Struct(">2sIQII")
_CHECKED = HEADER.size - 4  # the header bytes its own checksum covers

DamageKind = Literal["torn_tail", "corrupt"]


def encode_frames(records: Iterable[bytes], arrival_ms: int) -> bytes:
    """The frames for ``records``, all stamped with the same arrival time."""
    out = []
    for data in records:
        head = struct.pack(">2sIQI", MAGIC, len(data), arrival_ms, zlib.crc32(data))
        out.append(head + struct.pack(">I", zlib.crc32(head)) + data)
    return b"".join(out)


@dataclass(frozen=True)
class SpoolDamage:
    """Bytes of a segment that are not a valid frame.

    ``torn_tail``: the damage runs to the end of the segment, as left by a crash in
    the middle of an append (that record was never acknowledged). ``corrupt``: valid
    frames follow, so the bytes were damaged after they were written.
    """

    kind: DamageKind
    offset: int  # where the damage starts in the segment
    end: int  # where it stops
    data: bytes  # the record's bytes if its header was intact, else the raw span
    arrival_ms: int | None = None  # known when the header was intact

    def describe(self, segment: str) -> str:
        what = "torn tail" if self.kind == "torn_tail" else "corrupt frame"
        return f"{segment}: {what} of {self.end - self.offset} bytes at offset {self.offset}"


@dataclass
class SegmentScan:
    frames: list[tuple[int, bytes]] = field(default_factory=list)  # (arrival ms, record)
    damage: list[SpoolDamage] = field(default_factory=list)


def _header_at(blob: bytes, pos: int) -> tuple[int, int, int] | None:
    """(length, arrival, record crc) if a header with a valid checksum starts at ``pos``."""
    if len(blob) - pos < HEADER.size:
        return None
    magic, length, arrival, data_crc, head_crc = HEADER.unpack_from(blob, pos)
    if magic != MAGIC or zlib.crc32(blob[pos : pos + _CHECKED]) != head_crc:
        return None
    return length, arrival, data_crc


def _next_frame(blob: bytes, pos: int) -> int:
    """The offset of the next whole, valid frame after ``pos``, or the end of the blob."""
    while (pos := blob.find(MAGIC, pos)) != -1:
        head = _header_at(blob, pos)
        if head is not None:
            start = pos + HEADER.size
            length, _, data_crc = head
            if start + length <= len(blob) and zlib.crc32(blob[start : start + length]) == data_crc:
                return pos
        pos += 1
    return len(blob)


def scan_segment(blob: bytes) -> SegmentScan:
    """Every valid frame of a segment, and every run of bytes that is not one."""
    scan = SegmentScan()
    end = len(blob)
    pos = 0
    while pos < end:
        head = _header_at(blob, pos)
        if head is None:
            # The length cannot be trusted: skip to the next frame that checks out.
            nxt = _next_frame(blob, pos + 1)
            kind: DamageKind = "torn_tail" if nxt == end else "corrupt"
            scan.damage.append(SpoolDamage(kind, pos, nxt, blob[pos:nxt]))
            pos = nxt
            continue
        length, arrival, data_crc = head
        start = pos + HEADER.size
        if start + length > end:
            scan.damage.append(SpoolDamage("torn_tail", pos, end, blob[start:], arrival))
            break
        data = blob[start : start + length]
        if zlib.crc32(data) != data_crc:
            kind = "torn_tail" if start + length == end else "corrupt"
            scan.damage.append(SpoolDamage(kind, pos, start + length, data, arrival))
        else:
            scan.frames.append((arrival, data))
        pos = start + length
    return scan


def create_segment(path: Path):
    """Create a segment file for appending, its directory entry made durable."""
    fh = open(path, "ab", buffering=0)  # noqa: SIM115 - the producer keeps it open
    fsync_dir(path.parent)
    return fh


def append_durably(fd: int, payload: bytes) -> None:
    """Append all of ``payload`` to ``fd`` and fdatasync it, or leave the file as it was.

    A short write is continued until everything is written; if writing fails
    (a full disk), the file is cut back to its previous size so that no half frame
    is left for the next append to follow.
    """
    before = os.fstat(fd).st_size
    view = memoryview(payload)
    try:
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(f"write returned {written}")
            view = view[written:]
        os.fdatasync(fd)
    except BaseException:
        os.ftruncate(fd, before)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileLock:
    """An exclusive ``flock`` on a file, held for the ``with`` block.

    ``flock`` locks belong to an open file description, so two holders in one process
    exclude each other as two processes do.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> FileLock:
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
