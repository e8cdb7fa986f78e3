"""Every pgoutput message type, built byte by byte from the protocol documentation."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from sandbox.ingest.dms import pgoutput as po

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
T0_PG = int((T0 - po.PG_EPOCH).total_seconds() * 1_000_000)


def s(text: str) -> bytes:
    return text.encode() + b"\x00"


def tup(*values) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is po.UNCHANGED:
            out += b"u"
        else:
            raw = v.encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def test_begin() -> None:
    msg = po.decode(b"B" + struct.pack(">QqI", 0x1_0000_0010, T0_PG, 735))
    assert msg == po.Begin(final_lsn=0x1_0000_0010, commit_time=T0, xid=735)


def test_commit() -> None:
    msg = po.decode(b"C" + struct.pack(">bQQq", 0, 100, 148, T0_PG))
    assert msg == po.Commit(flags=0, commit_lsn=100, end_lsn=148, commit_time=T0)


def test_relation_with_key_flags_and_typmod() -> None:
    body = struct.pack(">I", 16386) + s("public") + s("players") + b"d" + struct.pack(">h", 2)
    body += struct.pack(">b", 1) + s("player_id") + struct.pack(">Ii", 20, -1)
    body += struct.pack(">b", 0) + s("price") + struct.pack(">Ii", 1700, (10 << 16 | 2) + 4)
    msg = po.decode(b"R" + body)
    assert msg == po.Relation(
        16386,
        "public",
        "players",
        "d",
        (
            po.Column("player_id", 20, -1, True),
            po.Column("price", 1700, (10 << 16 | 2) + 4, False),
        ),
    )


def test_insert_with_null_unicode_and_unchanged_toast() -> None:
    msg = po.decode(b"I" + struct.pack(">I", 7) + b"N" + tup("1", None, "Zoë 🎮", po.UNCHANGED))
    assert msg == po.Change("I", 7, new=["1", None, "Zoë 🎮", po.UNCHANGED])


@pytest.mark.parametrize("old_kind", [b"", b"K", b"O"])
def test_update_without_and_with_old_tuple(old_kind: bytes) -> None:
    old = old_kind + tup("1", "x") if old_kind else b""
    msg = po.decode(b"U" + struct.pack(">I", 7) + old + b"N" + tup("2", "y"))
    assert msg.op == "U" and msg.new == ["2", "y"]
    assert msg.old == (["1", "x"] if old_kind else None)


@pytest.mark.parametrize("kind", [b"K", b"O"])
def test_delete_with_key_or_full_old_row(kind: bytes) -> None:
    msg = po.decode(b"D" + struct.pack(">I", 7) + kind + tup("1", None))
    assert msg == po.Change("D", 7, old=["1", None])


def test_truncate() -> None:
    msg = po.decode(b"T" + struct.pack(">ibII", 2, 3, 10, 11))
    assert msg == po.Truncate((10, 11), cascade=True, restart_identity=True)


def test_type_origin_and_message() -> None:
    assert po.decode(b"Y" + struct.pack(">I", 90001) + s("public") + s("mood")) == po.TypeInfo(
        90001, "public", "mood"
    )
    assert po.decode(b"O" + struct.pack(">Q", 55) + s("node-a")) == po.Origin(55, "node-a")
    m = po.decode(b"M" + struct.pack(">bQ", 1, 99) + s("app") + struct.pack(">i", 3) + b"hey")
    assert m == po.LogicalMessage(True, 99, "app", b"hey")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"Z", "unknown pgoutput message type"),
        (b"", "unexpected end"),
        (b"I" + struct.pack(">I", 1) + b"X", "insert without a new tuple"),
        (b"D" + struct.pack(">I", 1) + b"N" + tup("1"), "delete without a key"),
        (b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"b", "binary tuple"),
        (b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"q", "unknown tuple"),
    ],
)
def test_bad_messages_are_named(data: bytes, error: str) -> None:
    with pytest.raises(po.DecodeError, match=error):
        po.decode(data)


def test_lsn_text_round_trip() -> None:
    assert po.lsn_to_int("16/B374D848") == 0x16_B374D848
    assert po.int_to_lsn(0x16_B374D848) == "16/B374D848"
