"""Load gold into the warehouse (the Redshift stand-in): schema ``gold`` of ``warehouse``.

Each mart is read from its Delta table, bulk-loaded with ``COPY`` into a staging
table, given its primary key and comments (grain, column meaning), and swapped in
within one transaction: a reader sees the old table or the new one, never half of
one. A load that fails rolls back, leaving the previous table in place, and says which
table and why.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from deltalake import DeltaTable
from psycopg import sql

from sandbox.jobs.gold import GOLD_TABLES, GoldTable
from sandbox.jobs.lake import gold_path
from sandbox.services.base import SandboxError
from sandbox.settings import Settings

SCHEMA = "gold"
Progress = Callable[[str], None]


class WarehouseLoadError(SandboxError):
    """A mart could not be loaded; the previous table is still in place."""


def pg_type(t: pa.DataType) -> str:
    """The warehouse column type for an Arrow type (decimals stay decimals)."""
    if pa.types.is_int8(t) or pa.types.is_int16(t):
        return "smallint"
    if pa.types.is_int32(t):
        return "integer"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    raise WarehouseLoadError(f"warehouse: no column type for Arrow type {t}")


def read_gold(settings: Settings, mart: str) -> pa.Table:
    return DeltaTable(
        gold_path(settings, mart), storage_options=settings.s3_storage_options()
    ).to_pyarrow_table()


def load_table(conn: psycopg.Connection, table: GoldTable, data: pa.Table) -> int:
    """Swap ``data`` in as ``gold.<table>`` in one transaction; returns rows loaded."""
    staging = f"{table.name}__staging"
    cols = [(f.name, pg_type(f.type)) for f in data.schema]
    target = sql.Identifier(SCHEMA, table.name)
    stage = sql.Identifier(SCHEMA, staging)
    try:
        with conn.transaction():
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
            conn.execute(sql.SQL("drop table if exists {}").format(stage))
            conn.execute(
                sql.SQL("create table {} ({})").format(
                    stage,
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in cols
                    ),
                )
            )
            buf = io.BytesIO()
            # Every non-null value quoted: an unquoted empty field is NULL to COPY.
            pacsv.write_csv(
                data, buf, pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
            )
            copy_sql = sql.SQL("copy {} ({}) from stdin (format csv)").format(
                stage, sql.SQL(", ").join(sql.Identifier(n) for n, _ in cols)
            )
            with conn.cursor().copy(copy_sql) as copy:
                copy.write(buf.getvalue())
            conn.execute(
                sql.SQL("alter table {} add primary key ({})").format(
                    stage, sql.SQL(", ").join(map(sql.Identifier, table.key))
                )
            )
            conn.execute(
                sql.SQL("comment on table {} is {}").format(
                    stage, sql.Literal(f"Grain: {table.grain}.")
                )
            )
            for name, meaning in table.columns.items():
                conn.execute(
                    sql.SQL("comment on column {}.{} is {}").format(
                        stage, sql.Identifier(name), sql.Literal(meaning)
                    )
                )
            conn.execute(sql.SQL("drop table if exists {}").format(target))
            conn.execute(
                sql.SQL("alter table {} rename to {}").format(stage, sql.Identifier(table.name))
            )
            conn.execute(
                sql.SQL("alter index {} rename to {}").format(
                    sql.Identifier(SCHEMA, f"{staging}_pkey"), sql.Identifier(f"{table.name}_pkey")
                )
            )
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0]
        raise WarehouseLoadError(
            f"warehouse: loading {SCHEMA}.{table.name} failed, the previous table is kept: {reason}"
        ) from exc
    return data.num_rows


@dataclass
class LoadReport:
    rows: dict[str, int]


def run_warehouse(settings: Settings, progress: Progress | None = None) -> LoadReport:
    """Load every gold mart into the warehouse."""
    rows = {}
    url = settings.postgres_url(settings.warehouse_db)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in GOLD_TABLES:
            rows[table.name] = load_table(conn, table, read_gold(settings, table.name))
            if progress:
                progress(f"warehouse {SCHEMA}.{table.name}: {rows[table.name]} rows")
    return LoadReport(rows)
