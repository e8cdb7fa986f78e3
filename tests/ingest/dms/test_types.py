"""Text values from Postgres -> typed Parquet columns."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from sandbox.ingest.dms import types as t


def numeric_typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | scale) + 4


@pytest.mark.parametrize(
    ("oid", "typmod", "text", "arrow", "value"),
    [
        # numeric(12,2) stays decimal: money must not become float
        (t.NUMERIC, numeric_typmod(12, 2), "19.90", pa.decimal128(12, 2), Decimal("19.90")),
        # timestamptz text carries an offset; the column is UTC
        (
            t.TIMESTAMPTZ,
            -1,
            "2026-01-02 03:04:05.5-03",
            pa.timestamp("us", tz="UTC"),
            datetime(2026, 1, 2, 6, 4, 5, 500000, tzinfo=UTC),
        ),
        (t.TIMESTAMP, -1, "2026-01-02 03:04:05", pa.timestamp("us"), datetime(2026, 1, 2, 3, 4, 5)),
        (t.INT2, -1, "-7", pa.int16(), -7),
        (t.INT8, -1, "9007199254740993", pa.int64(), 9007199254740993),
        (t.BOOL, -1, "t", pa.bool_(), True),
        (t.BOOL, -1, "f", pa.bool_(), False),
        (t.DATE, -1, "2026-03-01", pa.date32(), date(2026, 3, 1)),
        (t.BPCHAR, -1, "BR", pa.string(), "BR"),
        (t.BYTEA, -1, "\\x00ff", pa.binary(), b"\x00\xff"),
        (t.FLOAT8, -1, "1.5", pa.float64(), 1.5),
    ],
)
def test_conversions(oid, typmod, text, arrow, value) -> None:
    ct = t.column_type("public.x", "c", oid, typmod)
    assert ct.arrow == arrow and ct.supported
    assert t.to_arrow([text, None], ct.arrow).to_pylist() == [value, None]


def test_unsupported_type_is_string_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ct = t.column_type("public.players", "mood", 90001, -1)
    assert ct.arrow == pa.string() and not ct.supported
    assert "public.players.mood" in caplog.text


def test_unbounded_numeric_is_string_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ct = t.column_type("public.payments", "ratio", t.NUMERIC, -1)
    assert ct.arrow == pa.string()
    assert "public.payments.ratio" in caplog.text


@pytest.mark.parametrize(
    ("oid", "typmod", "text", "value"),
    [
        # Parquet has no infinity: the timestamp is clamped to the type's range
        (t.TIMESTAMPTZ, -1, "infinity", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (t.TIMESTAMPTZ, -1, "-infinity", datetime(1, 1, 1, tzinfo=UTC)),
        (t.TIMESTAMP, -1, "infinity", datetime(9999, 12, 31, 23, 59, 59, 999999)),
        (t.DATE, -1, "-infinity", date(1, 1, 1)),
        # a decimal cannot hold NaN: NULL, with a warning naming the column and value
        (t.NUMERIC, numeric_typmod(10, 2), "NaN", None),
        (t.FLOAT8, -1, "NaN", float("nan")),
    ],
)
def test_values_parquet_cannot_hold_never_fail_the_batch(
    oid, typmod, text, value, caplog: pytest.LogCaptureFixture
) -> None:
    ct = t.column_type("public.x", "c", oid, typmod)
    with caplog.at_level(logging.WARNING):
        out = t.to_arrow(
            ["1", text, None] if oid != t.DATE else ["2026-01-01", text, None],
            ct.arrow,
            where="public.x.c",
        ).to_pylist()
    got = out[1]
    if isinstance(value, float):
        assert got != got  # NaN survives in a float column
    else:
        assert got == value
    assert out[2] is None
    if value is None:
        assert "public.x.c" in caplog.text and "'NaN'" in caplog.text
