"""What the DMS task checks and learns about the source database.

Column types are resolved through domains to their base type (a domain over
``numeric(10,2)`` is written as that decimal). Primary keys come from ``pg_index``;
they are what bronze MERGEs on, recorded for it in the table mappings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from sandbox.ingest.dms import pgoutput
from sandbox.ingest.dms.errors import DmsSourceError
from sandbox.ingest.dms.types import ColumnType, column_type

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type_oid: int  # the base type's oid for a domain
    type_modifier: int
    generated: bool = False  # a stored generated column (not in pgoutput before PG 18)


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...]
    replica_identity: str  # d default, n nothing, f full, i index
    partitioned: bool


class SourceCatalog:
    """The tables of one source schema: replicability checks, keys and column types."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._warned: set[tuple[str, str]] = set()
        self._checked: set[str] = set()
        self._domains: dict[int, tuple[int, int]] | None = None

    def tables(self, conn: psycopg.Connection) -> list[str]:
        """Tables of the source schema (partitioned tables by their root), after checks."""
        rows = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition "
            "order by c.relname",
            (self.schema,),
        ).fetchall()
        for (name,) in rows:
            self._check(self.describe(conn, name))
        return [r[0] for r in rows]

    def check_relation(self, rel: pgoutput.Relation) -> None:
        """Check a table as the replication stream describes it (first seen in CDC).

        The stream, not the catalog: the table may be renamed or dropped by now.
        """
        if rel.table in self._checked:
            return
        self._checked.add(rel.table)
        if rel.replica_identity not in ("f", "i") and not any(c.is_key for c in rel.columns):
            self._warn_insert_only(rel.table)

    def describe_oid(self, conn: psycopg.Connection, oid: int) -> SourceTable | None:
        """The table with this oid as it is now (its name may have changed), or None
        if it was dropped or moved out of the source schema."""
        row = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.oid = %s and n.nspname = %s",
            (oid, self.schema),
        ).fetchone()
        return None if row is None else self.describe(conn, row[0])

    def describe(self, conn: psycopg.Connection, table: str) -> SourceTable:
        """Columns (domains resolved), primary key and replica identity of ``table`` now."""
        row = conn.execute(
            "select c.oid, c.relreplident, c.relkind = 'p' from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
            (self.schema, table),
        ).fetchone()
        if row is None:
            raise DmsSourceError(f"dms: table {self.schema}.{table} does not exist")
        oid, identity, partitioned = row
        attrs = conn.execute(
            "select attname, atttypid::int, atttypmod, attgenerated <> '' from pg_attribute "
            "where attrelid = %s and attnum > 0 and not attisdropped order by attnum",
            (oid,),
        ).fetchall()
        key = conn.execute(
            "select a.attname from pg_index i join pg_attribute a "
            " on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
            "where i.indrelid = %s and i.indisprimary "
            "order by array_position(i.indkey::int2[], a.attnum)",
            (oid,),
        ).fetchall()
        columns = []
        for name, type_oid, typmod, generated in attrs:
            base_oid, base_mod = self.base_type(conn, type_oid, typmod)
            columns.append(SourceColumn(name, base_oid, base_mod, generated))
        return SourceTable(
            self.schema, table, tuple(columns), tuple(k[0] for k in key), identity, partitioned
        )

    def base_type(self, conn: psycopg.Connection, type_oid: int, typmod: int) -> tuple[int, int]:
        """``(oid, typmod)`` of the type a value is stored as: a domain's base type."""
        if self._domains is None or type_oid not in self._domains:
            self._domains = {
                d: (base, mod)
                for d, base, mod in conn.execute(
                    "select oid::int, typbasetype::int, typtypmod from pg_type where typtype = 'd'"
                ).fetchall()
            }
        seen = set()
        while type_oid in self._domains and type_oid not in seen:  # domains over domains
            seen.add(type_oid)
            base, mod = self._domains[type_oid]
            type_oid, typmod = base, mod if mod != -1 else typmod
        return type_oid, typmod

    def _check(self, table: SourceTable) -> None:
        self._checked.add(table.name)
        if table.primary_key or table.replica_identity in ("f", "i"):
            return
        self._warn_insert_only(table.name)

    def _warn_insert_only(self, table: str) -> None:
        # Postgres itself refuses UPDATE and DELETE on a published table without a
        # replica identity, so such a table is insert-only while it is replicated.
        log.warning(
            "dms: table %s.%s has no primary key: replicated insert-only (Postgres refuses "
            "its updates and deletes while it is published). Add a primary key, or run "
            "`ALTER TABLE %s.%s REPLICA IDENTITY FULL`.",
            self.schema,
            table,
            self.schema,
            table,
        )

    def column_types(self, table: str, columns: list[tuple[str, int, int]]) -> list[ColumnType]:
        """Parquet types for ``(name, type oid, typmod)``; warns once per unsupported column."""
        out = []
        for name, oid, typmod in columns:
            warn = (table, name) not in self._warned
            ct = column_type(f"{self.schema}.{table}", name, oid, typmod, warn=warn)
            if not ct.supported:
                self._warned.add((table, name))
            out.append(ct)
        return out
