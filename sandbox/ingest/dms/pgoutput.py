"""A decoder for PostgreSQL's ``pgoutput`` logical replication messages (protocol v1).

``pgoutput`` ships with every Postgres, managed ones included, which is why AWS DMS
reads it. The maintained Python options either need a replication-protocol streaming
connection (psycopg2) or are unmaintained (pypgoutput 0.0.3, 2022), so the sandbox
decodes the documented message format itself; tests cover every message type.

Reference: "Logical Replication Message Formats" in the PostgreSQL docs.
Values arrive in their text form (the type's output function); converting them to
typed columns is :mod:`sandbox.ingest.dms.types`' job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")


class DecodeError(ValueError):
    """A pgoutput message this decoder does not understand."""


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    relation_id: int
    schema: str
    table: str
    replica_identity: str  # d default, n nothing, f full, i index
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


@dataclass(frozen=True)
class TypeInfo:
    type_oid: int
    schema: str
    name: str


@dataclass(frozen=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True)
class LogicalMessage:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


# A tuple's values: text (str), None for SQL NULL, UNCHANGED for an unchanged TOAST value.
UNCHANGED = object()


@dataclass(frozen=True)
class Change:
    """An insert, update or delete on one relation."""

    op: str  # "I", "U" or "D"
    relation_id: int
    new: list | None = None  # row after the change (I, U)
    old: list | None = None  # key or full old row (U with identity change, D)


@dataclass(frozen=True)
class Truncate:
    relation_ids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


Message = Begin | Commit | Relation | TypeInfo | Origin | LogicalMessage | Change | Truncate


@dataclass
class _Reader:
    data: bytes
    pos: int = field(default=0)

    def byte(self) -> str:
        b = self.data[self.pos : self.pos + 1]
        if not b:
            raise DecodeError("unexpected end of message")
        self.pos += 1
        return b.decode("ascii")

    def _unpack(self, st: struct.Struct) -> int:
        (value,) = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return value

    def i8(self) -> int:
        return self._unpack(_I8)

    def i16(self) -> int:
        return self._unpack(_I16)

    def i32(self) -> int:
        return self._unpack(_I32)

    def u32(self) -> int:
        return self._unpack(_U32)

    def i64(self) -> int:
        return self._unpack(_I64)

    def u64(self) -> int:
        return self._unpack(_U64)

    def string(self) -> str:
        end = self.data.index(b"\x00", self.pos)
        value = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return value

    def raw(self, n: int) -> bytes:
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value

    def timestamp(self) -> datetime:
        return PG_EPOCH + timedelta(microseconds=self.i64())

    def tuple(self) -> list:
        ncols = self.i16()
        values: list = []
        data = self.data
        for _ in range(ncols):
            kind = data[self.pos]
            self.pos += 1
            if kind == 0x74:  # 't' text
                (length,) = _I32.unpack_from(data, self.pos)
                start = self.pos + 4
                self.pos = start + length
                values.append(data[start : self.pos].decode("utf-8"))
            elif kind == 0x6E:  # 'n' null
                values.append(None)
            elif kind == 0x75:  # 'u' unchanged toasted value
                values.append(UNCHANGED)
            elif kind == 0x62:  # 'b' binary (only with the binary option, not used)
                raise DecodeError("binary tuple data is not supported; use text mode")
            else:
                raise DecodeError(f"unknown tuple data kind {chr(kind)!r}")
        return values


def decode(data: bytes) -> Message:
    """Decode one pgoutput message (the ``data`` column of the slot functions)."""
    r = _Reader(bytes(data))
    tag = r.byte()
    if tag == "B":
        return Begin(final_lsn=r.u64(), commit_time=r.timestamp(), xid=r.u32())
    if tag == "C":
        return Commit(flags=r.i8(), commit_lsn=r.u64(), end_lsn=r.u64(), commit_time=r.timestamp())
    if tag == "R":
        rel_id = r.u32()
        schema = r.string()
        table = r.string()
        identity = r.byte()
        columns = []
        for _ in range(r.i16()):
            flags = r.i8()
            name = r.string()
            columns.append(Column(name, r.u32(), r.i32(), bool(flags & 1)))
        return Relation(rel_id, schema, table, identity, tuple(columns))
    if tag == "I":
        rel_id = r.u32()
        if r.byte() != "N":
            raise DecodeError("insert without a new tuple")
        return Change("I", rel_id, new=r.tuple())
    if tag == "U":
        rel_id = r.u32()
        kind = r.byte()
        old = None
        if kind in ("K", "O"):
            old = r.tuple()
            kind = r.byte()
        if kind != "N":
            raise DecodeError(f"update without a new tuple (got {kind!r})")
        return Change("U", rel_id, new=r.tuple(), old=old)
    if tag == "D":
        rel_id = r.u32()
        kind = r.byte()
        if kind not in ("K", "O"):
            raise DecodeError(f"delete without a key or old tuple (got {kind!r})")
        return Change("D", rel_id, old=r.tuple())
    if tag == "T":
        n = r.i32()
        options = r.i8()
        rel_ids = tuple(r.u32() for _ in range(n))
        return Truncate(rel_ids, cascade=bool(options & 1), restart_identity=bool(options & 2))
    if tag == "Y":
        return TypeInfo(type_oid=r.u32(), schema=r.string(), name=r.string())
    if tag == "O":
        return Origin(lsn=r.u64(), name=r.string())
    if tag == "M":
        flags = r.i8()
        lsn = r.u64()
        prefix = r.string()
        content = r.raw(r.i32())
        return LogicalMessage(bool(flags & 1), lsn, prefix, content)
    raise DecodeError(f"unknown pgoutput message type {tag!r}")


def lsn_to_int(lsn: str) -> int:
    """'16/B374D848' -> int."""
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def int_to_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
