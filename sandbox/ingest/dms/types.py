"""Postgres column types -> Parquet (Arrow) types, the way DMS maps them.

Both the full load (``COPY ... TO STDOUT (FORMAT csv)``) and CDC (pgoutput text
tuples) deliver values in their text form, so one converter per type serves both and
the two paths cannot disagree. Numeric stays decimal, timestamptz stays a UTC
timestamp; a type without a faithful mapping is written as a string, with a warning
that names the table and column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

# pg_type OIDs of the built-in types (stable across Postgres versions).
BOOL, BYTEA, INT8, INT2, INT4, TEXT, OID = 16, 17, 20, 21, 23, 25, 26
JSON, FLOAT4, FLOAT8, BPCHAR, VARCHAR, DATE = 114, 700, 701, 1042, 1043, 1082
TIME, TIMESTAMP, TIMESTAMPTZ, NUMERIC, UUID, JSONB = 1083, 1114, 1184, 1700, 2950, 3802

_SIMPLE: dict[int, pa.DataType] = {
    INT2: pa.int16(),
    INT4: pa.int32(),
    INT8: pa.int64(),
    OID: pa.int64(),
    FLOAT4: pa.float32(),
    FLOAT8: pa.float64(),
    TEXT: pa.string(),
    VARCHAR: pa.string(),
    BPCHAR: pa.string(),
    UUID: pa.string(),
    JSON: pa.string(),
    JSONB: pa.string(),
    TIME: pa.string(),
    DATE: pa.date32(),
    TIMESTAMP: pa.timestamp("us"),
    TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    BOOL: pa.bool_(),
    BYTEA: pa.binary(),
}


@dataclass(frozen=True)
class ColumnType:
    """How one source column is written to Parquet."""

    name: str
    arrow: pa.DataType
    supported: bool = True


def column_type(
    table: str, name: str, type_oid: int, type_modifier: int, *, warn: bool = True
) -> ColumnType:
    """The Arrow type for a Postgres column; unsupported types become strings."""
    if type_oid == NUMERIC:
        if type_modifier >= 4:
            precision = ((type_modifier - 4) >> 16) & 0xFFFF
            scale = (type_modifier - 4) & 0xFFFF
            if precision <= 38:
                return ColumnType(name, pa.decimal128(precision, scale))
        # Unbounded numeric has no fixed scale: DMS writes it as a string too.
        if warn:
            log.warning("dms: %s.%s is numeric without precision; written as string", table, name)
        return ColumnType(name, pa.string(), supported=False)
    if type_oid in _SIMPLE:
        return ColumnType(name, _SIMPLE[type_oid])
    if warn:
        log.warning(
            "dms: %s.%s has a type (oid %d) without a Parquet mapping; written as string",
            table,
            name,
            type_oid,
        )
    return ColumnType(name, pa.string(), supported=False)


def to_arrow(
    values: Sequence[str | None] | pa.Array, arrow_type: pa.DataType, *, where: str = ""
) -> pa.Array:
    """Convert text values (None for NULL) to an Arrow array of ``arrow_type``.

    Values Parquet cannot hold never stop the task: ``infinity`` / ``-infinity`` of a
    date or timestamp become the largest / smallest value of the type; a value that
    still does not convert (numeric ``NaN`` or ``Infinity``, a BC date) is written as
    NULL with a warning naming ``where`` (schema.table.column) and the value.
    """
    text = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    try:
        return _convert(text, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        return pa.array([_one(v, arrow_type, where) for v in text.to_pylist()], arrow_type)


def _convert(text: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    converter = _CONVERTERS.get(arrow_type.id)
    if converter is not None:
        return converter(text, arrow_type)
    return text.cast(arrow_type)


_WARNED: set[tuple[str, str]] = set()
_MAX_TS = datetime(9999, 12, 31, 23, 59, 59, 999999)
_MIN_TS = datetime(1, 1, 1)


def _one(value: str | None, arrow_type: pa.DataType, where: str) -> object:
    """One value the vectorised cast refused: clamp infinities, else NULL with a warning."""
    if value is None:
        return None
    try:
        return _convert(pa.array([value], pa.string()), arrow_type)[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        pass
    lowered = value.strip().lower()
    if lowered in ("infinity", "-infinity") and (
        pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)
    ):
        high = lowered == "infinity"
        if pa.types.is_date(arrow_type):
            return date.max if high else date.min
        ts = _MAX_TS if high else _MIN_TS
        return ts.replace(tzinfo=UTC) if arrow_type.tz else ts
    if (where, value) not in _WARNED:  # once per column and value, not per row
        _WARNED.add((where, value))
        log.warning(
            "dms: %s value %r has no %s form in Parquet; written as NULL",
            where or "a column",
            value,
            arrow_type,
        )
    return None


def _bool(text: pa.Array, _: pa.DataType) -> pa.Array:
    return pc.equal(text, "t")


def _binary(text: pa.Array, _: pa.DataType) -> pa.Array:
    # bytea's text form is hex: \x0a0b...
    return pa.array(
        [None if v is None else bytes.fromhex(v[2:]) for v in text.to_pylist()], pa.binary()
    )


_CONVERTERS: dict[int, Callable[[pa.Array, pa.DataType], pa.Array]] = {
    pa.bool_().id: _bool,
    pa.binary().id: _binary,
}
