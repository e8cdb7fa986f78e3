"""Load gold into the warehouse (the Redshift stand-in): schema ``gold`` of ``warehouse``.

Every mart of a run is read from its Delta table first (a mart that cannot be read
stops the load before the warehouse is touched). Then one transaction replaces the
rows of every mart in place: ``DELETE`` then ``COPY`` into the same table, created
with its primary key the first time, comments (grain, column meaning) refreshed.

Why in place and not a swap: the tables are never dropped or renamed, so views a BI
user or a dbt model built on them, grants and comments stay; why ``DELETE`` and not
``TRUNCATE``: ``DELETE`` is MVCC-safe, so readers are never blocked and a reader's
snapshot shows either the whole previous warehouse or the whole new one (``TRUNCATE``
would show an empty table to a transaction whose snapshot predates it). The marts are
small, so the dead rows ``DELETE`` leaves cost little and autovacuum reclaims them.

A load that fails rolls back: the previous warehouse is left exactly as it was, and
the error names the mart and the reason. A column gold no longer has is dropped and a
changed type is altered in the same transaction; if a view depends on that column,
the load fails saying so, and the view's owner decides.
"""

from __future__ import annotations

import io
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from psycopg import sql

from sandbox.jobs import GOLD_TABLES, GoldTable, KnownStates, TableState, gold_path, table_states
from sandbox.platform import Progress, SandboxError, Settings

SCHEMA = "gold"


# Loads take this transaction-level advisory lock, so two loads never interleave.
LOAD_LOCK = zlib.crc32(b"sandbox warehouse load")


class WarehouseLoadError(SandboxError):
    """A mart could not be loaded; the previous warehouse is still in place, untouched."""


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


def read_gold(settings: Settings, mart: str, version: int | None = None) -> pa.Table:
    """A gold mart's rows (at ``version``, else the latest)."""
    return DeltaTable(
        gold_path(settings, mart), version=version, storage_options=settings.s3_storage_options()
    ).to_pyarrow_table()


def read_marts(settings: Settings, states: dict[str, TableState | None]) -> dict[str, pa.Table]:
    """The rows of each mart, at the version of its state (else the latest), read side
    by side (delta-rs lets go of the GIL); the first mart that cannot be read raises."""
    if not states:
        return {}

    def read(name: str) -> pa.Table:
        state = states[name]
        try:
            return read_gold(settings, name, None if state is None else state.version)
        except (DeltaError, OSError) as exc:
            raise WarehouseLoadError(
                f"warehouse: cannot read gold mart {name!r}, the previous warehouse is kept: {exc}"
            ) from exc

    with ThreadPoolExecutor(min(READ_THREADS, len(states))) as pool:
        return dict(zip(states, pool.map(read, states), strict=True))


# Marts read at once (object-store round trips, not CPU).
READ_THREADS = 4


def _columns(conn: psycopg.Connection, name: str) -> dict[str, str] | None:
    """The current columns of ``gold.<name>`` and their types, or None if it does not exist."""
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum",
        (f"{SCHEMA}.{name}",),
    ).fetchall()
    if not rows:
        return None
    return dict(rows)


# How the catalog (``format_type``) spells the types ``pg_type`` abbreviates.
CATALOG_SPELLING = {
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
}


def _shape(conn: psycopg.Connection, table: GoldTable, cols: list[tuple[str, str]]) -> None:
    """Create ``gold.<table>``, or bring its columns to ``cols`` without recreating it."""
    target = sql.Identifier(SCHEMA, table.name)
    current = _columns(conn, table.name)
    if current is None:
        conn.execute(
            sql.SQL("create table {} ({}, primary key ({}))").format(
                target,
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in cols
                ),
                sql.SQL(", ").join(map(sql.Identifier, table.key)),
            )
        )
        return
    wanted = dict(cols)
    for name in current.keys() - wanted.keys():
        conn.execute(sql.SQL("alter table {} drop column {}").format(target, sql.Identifier(name)))
    for name, pg in cols:
        if name not in current:
            conn.execute(
                sql.SQL("alter table {} add column {} {}").format(
                    target, sql.Identifier(name), sql.SQL(pg)
                )
            )
        elif current[name] != CATALOG_SPELLING.get(pg, pg):
            conn.execute(
                sql.SQL("alter table {} alter column {} type {} using {}::{}").format(
                    target, sql.Identifier(name), sql.SQL(pg), sql.Identifier(name), sql.SQL(pg)
                )
            )


def table_comment(table: GoldTable, source: str | None = None) -> str:
    """A mart's table comment: its grain, and the gold version it was loaded from."""
    loaded = f" Loaded from gold Delta version {source}." if source else ""
    return f"Grain: {table.grain}.{loaded}"


def _replace_rows(
    conn: psycopg.Connection, table: GoldTable, data: pa.Table, source: str | None = None
) -> int:
    """Replace the rows of ``gold.<table>`` with ``data`` inside the caller's transaction.

    The table keeps its identity (views, grants, comments); returns rows loaded.
    ``source`` (the gold version ``data`` is) goes into the table's comment.
    """
    cols = [(f.name, pg_type(f.type)) for f in data.schema]
    target = sql.Identifier(SCHEMA, table.name)
    _shape(conn, table, cols)
    conn.execute(sql.SQL("delete from {}").format(target))
    buf = io.BytesIO()
    # Every non-null value quoted: an unquoted empty field is NULL to COPY.
    pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    copy_sql = sql.SQL("copy {} ({}) from stdin (format csv)").format(
        target, sql.SQL(", ").join(sql.Identifier(n) for n, _ in cols)
    )
    with conn.cursor().copy(copy_sql) as copy:
        copy.write(buf.getvalue())
    comment = sql.Literal(table_comment(table, source))
    conn.execute(sql.SQL("comment on table {} is {}").format(target, comment))
    for name, meaning in table.columns.items():
        conn.execute(
            sql.SQL("comment on column {}.{} is {}").format(
                target, sql.Identifier(name), sql.Literal(meaning)
            )
        )
    return data.num_rows


@dataclass
class LoadReport:
    rows: dict[str, int]


def load_marts(
    conn: psycopg.Connection,
    marts: dict[str, pa.Table],
    progress: Progress | None = None,
    sources: dict[str, str] | None = None,
) -> LoadReport:
    """Load every mart of ``marts`` (name -> rows) in one transaction, in ``GOLD_TABLES`` order.

    Readers see the previous warehouse until the commit, then the new one: never a mix.
    ``progress`` is called after each mart, inside the transaction. On failure nothing
    changes and ``WarehouseLoadError`` names the mart and the reason. ``sources``
    names the gold version each mart was read at (kept in its table comment).
    """
    sources = sources or {}
    declared = {t.name: t for t in GOLD_TABLES}
    unknown = sorted(marts.keys() - declared.keys())
    if unknown:
        raise WarehouseLoadError(f"warehouse: {unknown[0]!r} is not a mart declared in GOLD_TABLES")
    rows: dict[str, int] = {}
    current = "(schema)"
    try:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (LOAD_LOCK,))
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
            for table in GOLD_TABLES:
                if table.name not in marts:
                    continue
                current = table.name
                rows[table.name] = _replace_rows(
                    conn, table, marts[table.name], sources.get(table.name)
                )
                if progress:
                    progress(f"warehouse {SCHEMA}.{table.name}: {rows[table.name]} rows staged")
    except (psycopg.Error, WarehouseLoadError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise WarehouseLoadError(
            f"warehouse: loading {SCHEMA}.{current} failed, the previous warehouse is kept: "
            f"{reason}"
        ) from exc
    return LoadReport(rows)


def load_table(conn: psycopg.Connection, table: GoldTable, data: pa.Table) -> int:
    """Load one mart on its own, in its own transaction; returns rows loaded."""
    return load_marts(conn, {table.name: data}).rows[table.name]


def loaded_comments(conn: psycopg.Connection) -> dict[str, tuple[str | None, dict[str, str]]]:
    """The warehouse's marts as loaded: table comment and column comments, by mart."""
    found: dict[str, tuple[str | None, dict[str, str]]] = {}
    for mart, comment, column, meaning in conn.execute(
        "select c.relname, obj_description(c.oid, 'pg_class'), a.attname, "
        "col_description(c.oid, a.attnum) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace and n.nspname = %s "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "where c.relkind = 'r'",
        (SCHEMA,),
    ):
        columns = found.setdefault(mart, (comment, {}))[1]
        if meaning is not None:
            columns[column] = meaning
    return found


def _row_count(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(
        sql.SQL("select count(*) from {}").format(sql.Identifier(SCHEMA, name))
    ).fetchone()
    if row is None:
        raise RuntimeError(f"select count(*) from {SCHEMA}.{name} returned no row")
    return row[0]


def run_warehouse(
    settings: Settings,
    progress: Progress | None = None,
    *,
    force: bool = False,
    known: KnownStates | None = None,
) -> LoadReport:
    """Load the gold marts into the warehouse, all of them in one transaction.

    A mart whose table says (in its comment) that it holds the mart's current gold
    version, with the declared comments, is left as it is, unless ``force``.
    ``known``: the table states of the pipeline run so far (gold's, when it ran in
    this process).
    """
    uris = {t.name: gold_path(settings, t.name) for t in GOLD_TABLES}
    states = table_states(settings, uris.values(), known)
    with psycopg.connect(settings.warehouse_dsn(), autocommit=True) as conn:
        loaded = {} if force else loaded_comments(conn)
        current = {
            t.name
            for t in GOLD_TABLES
            if (state := states[uris[t.name]]) is not None
            and loaded.get(t.name) == (table_comment(t, state.identity), t.columns)
        }
        stale = [t.name for t in GOLD_TABLES if t.name not in current]
        marts = read_marts(settings, {name: states[uris[name]] for name in stale})
        sources = {
            name: state.identity for name in stale if (state := states[uris[name]]) is not None
        }
        report = load_marts(conn, marts, progress, sources) if marts else LoadReport({})
        for name in current:
            state = states[uris[name]]
            assert state is not None  # current holds only marts with a state
            record = state.record or {}
            report.rows[name] = record.get("rows") or _row_count(conn, name)
    report.rows = {t.name: report.rows[t.name] for t in GOLD_TABLES}
    if progress:
        kept = f", {len(current)} unchanged" if current else ""
        progress(f"warehouse: {len(marts)} marts committed in one transaction{kept}")
    return report
