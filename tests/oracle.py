"""The replica oracle: what the source database holds, read straight from Postgres.

It shares no code with the jobs: primary keys come from the Postgres catalog, rows
from a plain ``select *``. Bronze and the DMS replay are compared against it.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from sandbox.platform.settings import Settings


def primary_key(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """The primary-key columns of ``schema.table``, in key order, from ``pg_index``."""
    rows = conn.execute(
        "select a.attname from pg_index i "
        "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
        "where i.indrelid = %s::regclass and i.indisprimary "
        "order by array_position(i.indkey::int2[], a.attnum)",
        (sql.Identifier(schema, table).as_string(conn),),
    ).fetchall()
    return [r[0] for r in rows]


def source_rows(
    settings: Settings, table: str, *, schema: str = "public", key: list[str] | None = None
) -> dict[tuple, dict]:
    """``{primary key: row}`` of a source table as the database holds it now."""
    with psycopg.connect(settings.postgres_url()) as conn:
        key = key or primary_key(conn, schema, table)
        cur = conn.execute(sql.SQL("select * from {}").format(sql.Identifier(schema, table)))
        cols = [d.name for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    return {tuple(r[k] for k in key): r for r in rows}


def canon(value: object) -> object:
    """One form for a value read from Postgres or from bronze, so they compare equal.

    Spark hands timestamps back naive in the session time zone (UTC); psycopg hands
    timestamptz back aware. bytea is memoryview or bytearray on one side, bytes on the
    other. NaN never equals itself, so it is compared as a marker.
    """
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def canon_rows(rows: dict[tuple, dict]) -> dict[tuple, dict]:
    return {
        tuple(canon(k) for k in key): {c: canon(v) for c, v in row.items()}
        for key, row in rows.items()
    }


def source_select(settings: Settings, query: str, key: list[str]) -> dict[tuple, dict]:
    """``{key: row}`` of any query on the source (e.g. with ``::text`` casts)."""
    with psycopg.connect(settings.postgres_url()) as conn:
        conn.execute("set timezone = 'UTC'")
        cur = conn.execute(query)
        cols = [d.name for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    return canon_rows({tuple(r[k] for k in key): r for r in rows})


def bronze_table_rows(spark, path: str, key: list[str]) -> dict[tuple, dict]:
    """``{key: row}`` of a bronze Delta table, read with Spark."""
    rows = [r.asDict() for r in spark.read.format("delta").load(path).collect()]
    return canon_rows({tuple(r[k] for k in key): r for r in rows})


def lake_snapshot(settings: Settings) -> dict[str, Counter]:
    """Every silver table and gold mart as a multiset of rows (order aside), read with
    delta-rs, not with the engine that wrote them."""
    from deltalake import DeltaTable

    from sandbox.jobs.gold import GOLD_TABLES
    from sandbox.jobs.layers import gold_path, silver_path
    from sandbox.jobs.silver import SILVER_TABLES

    opts = settings.s3_storage_options()
    paths = {f"silver.{t.name}": silver_path(settings, t.domain, t.name) for t in SILVER_TABLES}
    paths |= {f"gold.{m.name}": gold_path(settings, m.name) for m in GOLD_TABLES}
    return {
        # Arrow, not pandas: a null stays None (pandas' NaN never equals itself)
        name: Counter(
            tuple(row.values())
            for row in DeltaTable(p, storage_options=opts).to_pyarrow_table().to_pylist()
        )
        for name, p in paths.items()
    }
