"""The shape of each table the task writes, and the record of it bronze reads.

CDC takes a table's shape from the replication stream (pgoutput's relation messages),
never from today's catalog, so DDL after the changes cannot wedge the task: a table
dropped or renamed since, or a column whose type changed, is written as it was. The
catalog, found by the table's oid, only adds what pgoutput does not carry: the primary
key, whether the table is partitioned, and its stored generated columns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import psycopg

from sandbox.ingest.dms import pgoutput
from sandbox.ingest.dms.cdc import TableBatch
from sandbox.ingest.dms.errors import RELOAD_HINT
from sandbox.ingest.dms.mappings import MappingStore
from sandbox.ingest.dms.source import SourceCatalog, SourceColumn, SourceTable
from sandbox.ingest.dms.types import ColumnType

log = logging.getLogger(__name__)


class TableShapes:
    """Shapes of the tables the task writes, recorded in their mappings for bronze."""

    def __init__(self, catalog: SourceCatalog, mappings: MappingStore) -> None:
        self.catalog = catalog
        self.mappings = mappings

    def record(
        self, table: SourceTable, columns: Iterable[SourceColumn], *, fresh: bool = False
    ) -> list[ColumnType]:
        """Parquet types of ``columns``, recorded in the table's mapping for bronze."""
        types = self.catalog.column_types(
            table.name, [(c.name, c.type_oid, c.type_modifier) for c in columns]
        )
        self.mappings.observe(
            table.schema,
            table.name,
            columns=[(ct.name, str(ct.arrow)) for ct in types],
            primary_key=list(table.primary_key),
            replica_identity=table.replica_identity,
            partitioned=table.partitioned,
            fresh=fresh,
            generated=[c.name for c in table.columns if c.generated],
        )
        return types

    def as_streamed(
        self, conn: psycopg.Connection, tb: TableBatch, now: SourceTable | None
    ) -> SourceTable:
        """The table as the batch's changes describe it, under the name they carry.

        Columns and their types come from the stream. The primary key, whether it is
        partitioned and its stored generated columns come from ``now`` (the catalog by
        oid) while the table exists; after a drop, from the mapping recorded before,
        else the stream's replica identity. A drop or a rename since is said in a line.
        """
        name = f"{tb.schema}.{tb.table}"
        if now is None:
            log.warning(
                "dms: %s was dropped after these changes: they are written as the "
                "replication stream had them",
                name,
            )
        elif now.name != tb.table:
            log.warning(
                "dms: %s is now %s.%s (renamed): its later changes land under %s/, "
                "which has no full load: %s",
                name,
                now.schema,
                now.name,
                now.name,
                RELOAD_HINT,
            )
        last = tb.shapes[-1]
        if now is not None:
            key, partitioned = now.primary_key, now.partitioned
            generated = tuple(c for c in now.columns if c.generated)
        else:
            before = self.mappings.get(tb.schema, tb.table)
            streamed = () if last.replica_identity == "f" else tb.key
            key = tuple(before.primary_key) if before else streamed
            partitioned = before.partitioned if before else False
            generated = ()
        sent = {c.name for c in tb.columns}
        columns = [self.base(conn, c) for c in tb.columns]
        columns += [c for c in generated if c.name not in sent]
        return SourceTable(
            tb.schema, tb.table, tuple(columns), key, last.replica_identity, partitioned
        )

    def record_streamed(
        self, conn: psycopg.Connection, tb: TableBatch, table: SourceTable
    ) -> list[ColumnType]:
        """Record each shape ``tb`` took, in order (so a rename is seen as one), with the
        generated columns pgoutput leaves out; the Parquet types of ``table``."""
        generated = [c for c in table.columns if c.generated]
        for relation in tb.shapes:
            self.record(table, [*(self.base(conn, c) for c in relation.columns), *generated])
        return self.catalog.column_types(
            tb.table, [(c.name, c.type_oid, c.type_modifier) for c in table.columns]
        )

    def base(self, conn: psycopg.Connection, c: pgoutput.Column) -> SourceColumn:
        """A streamed column with its type resolved through domains."""
        oid, typmod = self.catalog.base_type(conn, c.type_oid, c.type_modifier)
        return SourceColumn(c.name, oid, typmod)
