"""Loading the generated tables into the ``app`` database: the schema, a bulk COPY and
``seed``, and ``export`` of the same tables as sample files.
"""

from __future__ import annotations

import io
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql

from sandbox.app.generator import COPY_CHUNK_ROWS, TABLE_ORDER, generate, schema_sql
from sandbox.platform import SandboxError


def create_schema(conn: psycopg.Connection, *, indexes: bool = True) -> None:
    """Create the application tables (and their indexes) if they do not exist."""
    conn.execute(schema_sql(indexes=indexes))


def load(conn: psycopg.Connection, tables: dict[str, pa.Table], *, schema: str = "public") -> None:
    """Bulk-load generated tables with COPY in one transaction, then move the id
    sequences past them.

    The rows are consistent by construction, so the load skips the foreign keys'
    per-row checks (``session_replication_role = replica``, which needs a superuser, as
    the sandbox's own Postgres user is; without one the load runs with the checks, about
    4x slower at scale 16). ``tests/app/test_generator.py`` checks every key instead.

    A primary key no foreign key points at (``match_players``') is dropped for the
    load and built again after it, in the same transaction: one sort instead of an
    index insertion per row (4.3 s -> 1.7 s for 1.6M rows, plus under 1 s to build).
    """
    with conn.transaction():
        try:
            with conn.transaction():  # a savepoint: a refusal does not abort the load
                conn.execute("set local session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            pass
        keys = _unreferenced_primary_keys(conn, schema, list(tables))
        for table, (name, _) in keys.items():
            drop = sql.SQL("alter table {} drop constraint {}")
            conn.execute(drop.format(sql.Identifier(schema, table), sql.Identifier(name)))
        _copy(conn, tables, schema)
        for table, (name, definition) in keys.items():
            add = sql.SQL("alter table {} add constraint {} {}")
            conn.execute(
                add.format(sql.Identifier(schema, table), sql.Identifier(name), sql.SQL(definition))
            )


def _unreferenced_primary_keys(
    conn: psycopg.Connection, schema: str, tables: list[str]
) -> dict[str, tuple[str, str]]:
    """``{table: (constraint, definition)}`` of the empty tables' primary keys that no
    foreign key references."""
    rows = conn.execute(
        """
        select c.relname, k.conname, pg_get_constraintdef(k.oid)
        from pg_constraint k
        join pg_class c on c.oid = k.conrelid
        join pg_namespace n on n.oid = c.relnamespace
        where k.contype = 'p' and n.nspname = %s and c.relname = any(%s)
          and not exists (select 1 from pg_constraint f
                          where f.contype = 'f' and f.conindid = k.conindid)
        """,
        (schema, tables),
    ).fetchall()
    return {
        table: (name, definition)
        for table, name, definition in rows
        if _is_empty(conn, schema, table)
    }


def _is_empty(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute(
        sql.SQL("select not exists (select 1 from {})").format(sql.Identifier(schema, table))
    ).fetchone()
    if row is None:
        raise RuntimeError(f"no row from the emptiness probe of {schema}.{table}")
    return row[0]


def _csv(batch: pa.RecordBatch) -> memoryview:
    buf = io.BytesIO()
    pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return buf.getbuffer()


def _copy(conn: psycopg.Connection, tables: dict[str, pa.Table], schema: str) -> None:
    # In chunks, written as CSV on another thread (Arrow lets go of the GIL), so that
    # Postgres parses one chunk while the next is written; at most two wait in memory.
    with ThreadPoolExecutor(1, thread_name_prefix="seed-csv") as pool:
        for name in TABLE_ORDER:
            table = tables[name]
            cols = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
            query = sql.SQL("copy {} ({}) from stdin (format csv)").format(
                sql.Identifier(schema, name), cols
            )
            with conn.cursor().copy(query) as copy:
                ahead: deque[Future[memoryview]] = deque()
                for batch in table.to_batches(max_chunksize=COPY_CHUNK_ROWS):
                    ahead.append(pool.submit(_csv, batch))
                    if len(ahead) > 2:
                        copy.write(ahead.popleft().result())
                while ahead:
                    copy.write(ahead.popleft().result())
    for name, key in [
        ("players", "player_id"),
        ("subscriptions", "subscription_id"),
        ("payments", "payment_id"),
        ("lobbies", "lobby_id"),
        ("matches", "match_id"),
    ]:
        conn.execute(
            sql.SQL(
                "select setval(pg_get_serial_sequence({t}, {c}), "
                "greatest((select max({k}) from {tbl}), 1))"
            ).format(
                t=sql.Literal(f"{schema}.{name}"),
                c=sql.Literal(key),
                k=sql.Identifier(key),
                tbl=sql.Identifier(schema, name),
            )
        )


def seed(
    conn: psycopg.Connection, *, scale: float = 1.0, seed: int = 42, as_of: date | None = None
) -> dict[str, int]:
    """Create the schema and load generated data; refuses a database that has players.

    History ends at ``as_of`` (default: today), where simulated traffic begins.
    """
    create_schema(conn, indexes=False)
    row = conn.execute("select count(*) from players").fetchone()
    if row is None:
        raise RuntimeError("select count(*) from players returned no row")
    (existing,) = row
    if existing:
        raise SeedError(
            f"app database already has {existing} players; `sandbox reset` first to reseed"
        )
    tables = generate(scale, seed, as_of=as_of)
    load(conn, tables)
    create_schema(conn)  # the secondary indexes, each built once over the loaded rows
    conn.execute("analyze")  # statistics for the traffic that follows at once
    return {name: t.num_rows for name, t in tables.items()}


def export(path: Path, *, scale: float, seed: int, as_of: date | None = None) -> dict[str, int]:
    """Write ``<path>/app/<table>.parquet`` and ``<path>/events/<stream>.jsonl`` (the samples)."""
    from sandbox.ingest.events import sample_events, write_sample_events

    (path / "app").mkdir(parents=True, exist_ok=True)
    tables = generate(scale, seed, as_of=as_of)
    for name, table in tables.items():
        pq.write_table(table, path / "app" / f"{name}.parquet")
    counts = {name: t.num_rows for name, t in tables.items()}
    streams = write_sample_events(sample_events(tables, seed), path / "events")
    return counts | {f"events/{s}": n for s, n in streams.items()}


class SeedError(SandboxError):
    """The app database is not empty."""
