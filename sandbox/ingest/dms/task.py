"""The DMS task: full load, then CDC from a ``pgoutput`` logical replication slot.

Guarantees, and how they are kept:

* **The full load and CDC meet exactly.** The slot is created on a replication
  connection that exports its snapshot; the full load reads every table in that
  snapshot, so each change is either in a LOAD file or in a CDC file, never both.
* **No change lost.** Changes are *peeked*, written to S3, and only then is the slot
  advanced past them. A crash anywhere before the advance re-delivers the batch.
* **None doubled.** Before uploading, the batch's LSN range is recorded in the source
  database (``sandbox_dms.task_state``). After a crash the same range is re-read, so
  the re-delivered objects have the same names and the same rows as the first try.

Object layout (as the AWS DMS S3 target with ``DataFormat=parquet``)::

    <BucketFolder>/<schema>/<table>/LOAD00000001.parquet            full load
    <BucketFolder>/[<CdcPath>/]<schema>/<table>/[yyyy/mm/dd/]<yyyymmdd-hhmmssfff>.parquet
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from minio import Minio
from psycopg import sql

from sandbox.ingest.dms import pgoutput
from sandbox.ingest.dms.cdc import TableBatch, collect, fill_from_source, write_cdc_file
from sandbox.ingest.dms.control import TaskState
from sandbox.ingest.dms.full_load import copy_out, load_table
from sandbox.ingest.dms.mappings import MappingStore
from sandbox.ingest.dms.naming import change_seq
from sandbox.ingest.dms.source import DmsSourceError, SourceCatalog, SourceColumn, SourceTable
from sandbox.ingest.dms.target import RawTarget, TableFile
from sandbox.ingest.dms.types import ColumnType
from sandbox.platform.progress import Progress, quiet
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.settings import Settings

__all__ = ["DmsSourceError", "DmsTask", "IngestReport", "TableFile"]


@dataclass
class IngestReport:
    full_load_files: list[TableFile] = field(default_factory=list)
    cdc_files: list[TableFile] = field(default_factory=list)
    changes: int = 0
    batches: int = 0
    # per transaction: seconds from its commit to its objects being in S3
    latencies_s: list[float] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        self.full_load_files += other.full_load_files
        self.cdc_files += other.cdc_files
        self.changes += other.changes
        self.batches += other.batches
        self.latencies_s += other.latencies_s


class DmsTask:
    """One replication task from the ``app`` database to the raw bucket."""

    def __init__(self, settings: Settings, *, s3: Minio | None = None) -> None:
        self.settings = settings
        self.cfg = settings.dms
        self.target = RawTarget(s3 or s3_client(settings), settings.raw_bucket)
        self.catalog = SourceCatalog(self.cfg.source_schema)
        self.state = TaskState(self.cfg.slot_name)
        self.mappings = MappingStore(self.target.s3, self.target.bucket, self.cfg.bucket_folder)

    def connect(self, **kwargs) -> psycopg.Connection:
        conn = psycopg.connect(self.settings.postgres_url(self.settings.app_db), **kwargs)
        conn.execute("set timezone = 'UTC'; set datestyle = 'ISO, YMD'")
        return conn

    # -- entry points -------------------------------------------------------------

    def run(self, progress: Progress = quiet) -> IngestReport:
        """Full load if it was not done, then CDC up to the current end of the WAL."""
        report = IngestReport()
        with self.connect(autocommit=True) as conn:
            self.state.ensure(conn)
            state = self.state.get(conn)
            if not (state and state["full_load_done"] and self._slot_exists(conn)):
                report.merge(self.full_load(conn, progress))
            (upto,) = conn.execute("select pg_current_wal_lsn()::text").fetchone()
            while True:
                batch = self.cdc_batch(conn, upto_lsn=upto)
                if batch is None:
                    break
                report.merge(batch)
                progress(f"cdc: {report.changes} changes in {len(report.cdc_files)} files")
        return report

    def follow(
        self,
        *,
        duration_s: float | None = None,
        should_stop: Callable[[], bool] | None = None,
        progress: Progress = quiet,
    ) -> IngestReport:
        """Run continuously: a CDC batch every ``cdc_max_batch_interval_s``."""
        report = self.run(progress)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        interval = self.cfg.cdc_max_batch_interval_s
        with self.connect(autocommit=True) as conn:
            while not (should_stop and should_stop()):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                started = time.monotonic()
                batch = self.cdc_batch(conn, upto_lsn=None)
                if batch is not None:
                    report.merge(batch)
                    progress(f"cdc: {report.changes} changes in {len(report.cdc_files)} files")
                    continue  # more may be waiting: drain before sleeping
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        return report

    # -- full load --------------------------------------------------------------

    def _slot_exists(self, conn: psycopg.Connection) -> bool:
        return (
            conn.execute(
                "select 1 from pg_replication_slots where slot_name = %s", (self.cfg.slot_name,)
            ).fetchone()
            is not None
        )

    def full_load(self, conn: psycopg.Connection, progress: Progress = quiet) -> IngestReport:
        """(Re)start replication: new slot, consistent snapshot, LOAD files per table."""
        report = IngestReport()
        tables = self.catalog.tables(conn)
        if self._slot_exists(conn):
            conn.execute("select pg_drop_replication_slot(%s)", (self.cfg.slot_name,))
        self.state.set(conn, full_load_done=False, pending_start=None, pending_end=None)
        exists = conn.execute(
            "select 1 from pg_publication where pubname = %s", (self.cfg.publication,)
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("create publication {} for tables in schema {}").format(
                    sql.Identifier(self.cfg.publication), sql.Identifier(self.cfg.source_schema)
                )
            )
        # Changes of a partition are published as changes of its root table, so the
        # parent's replica sees them ("Support partitioned tables in CDC" in AWS DMS).
        conn.execute(
            sql.SQL("alter publication {} set (publish_via_partition_root = true)").format(
                sql.Identifier(self.cfg.publication)
            )
        )
        url = self.settings.postgres_url(self.settings.app_db)
        with psycopg.connect(url, autocommit=True, replication="database") as repl:
            res = repl.pgconn.exec_(
                f"CREATE_REPLICATION_SLOT {self.cfg.slot_name} LOGICAL pgoutput "
                f"(SNAPSHOT 'export')".encode()
            )
            if res.status != psycopg.pq.ExecStatus.TUPLES_OK:
                raise DmsSourceError(
                    f"dms: could not create slot {self.cfg.slot_name}: "
                    f"{res.error_message.decode(errors='replace')}"
                )
            consistent_lsn = res.get_value(0, 1).decode()
            snapshot = res.get_value(0, 2).decode()
            transfer_time = datetime.now(UTC)
            seq = change_seq(pgoutput.lsn_to_int(consistent_lsn), 0)
            with self.connect() as snap:
                snap.execute("begin isolation level repeatable read")
                snap.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot)))
                described = [self.catalog.describe(snap, table) for table in tables]
                biggest_first = _by_size(snap, self.cfg.source_schema, described)
                snap.execute("commit")
            types = {
                t.name: self.catalog.column_types(
                    t.name, [(c.name, c.type_oid, c.type_modifier) for c in t.columns]
                )
                for t in described
            }

            def load(table: SourceTable) -> list[TableFile]:
                # TargetTablePrepMode DROP_AND_CREATE (the DMS default): a new full
                # load replaces the table's folder, old CDC files included, so a
                # rebuild never replays changes from before this snapshot.
                for prefix in self._table_prefixes(table.name):
                    self.target.remove_prefix(prefix)
                csv = copy_out(self.settings, snapshot, table)
                return load_table(csv, table, types[table.name], cfg=self.cfg,
                                  target=self.target, transfer_time=transfer_time,
                                  seq=seq)  # fmt: skip

            # The snapshot stays importable while `repl` is open, that is, in this block.
            workers = max(1, min(self.cfg.max_full_load_subtasks, os.cpu_count() or 1))
            loaded: dict[str, list[TableFile]] = {}
            with ThreadPoolExecutor(workers, thread_name_prefix="dms-full-load") as pool:
                running = {pool.submit(load, t): t for t in biggest_first}
                for future in as_completed(running):
                    table = running[future]
                    try:
                        loaded[table.name] = future.result()
                    except BaseException:
                        pool.shutdown(cancel_futures=True)  # the task failed: load no more
                        raise
                    self._record(table, table.columns, fresh=True)
                    rows = sum(f.rows for f in loaded[table.name])
                    progress(f"full load: {table.schema}.{table.name}: {rows} rows")
            for table in described:
                report.full_load_files += loaded[table.name]
        self.state.set(conn, full_load_done=True, consistent_lsn=consistent_lsn)
        return report

    def _table_prefixes(self, table: str) -> list[str]:
        schema = self.cfg.source_schema
        prefixes = [f"{self.cfg.bucket_folder}/{schema}/{table}/"]
        if self.cfg.cdc_path:
            prefixes.append(
                f"{self.cfg.bucket_folder}/{self.cfg.cdc_path.strip('/')}/{schema}/{table}/"
            )
        return prefixes

    def _record(
        self, table: SourceTable, columns: Iterable[SourceColumn], *, fresh: bool = False
    ) -> list[ColumnType]:
        """Parquet types of ``columns``, recorded in the table's mapping for bronze."""
        types = self.catalog.column_types(
            table.name, [(c.name, c.type_oid, c.type_modifier) for c in columns]
        )
        self.mappings.observe(
            table.schema, table.name, columns=[(ct.name, str(ct.arrow)) for ct in types],
            primary_key=list(table.primary_key), replica_identity=table.replica_identity,
            partitioned=table.partitioned, fresh=fresh,
            generated=[c.name for c in table.columns if c.generated],
        )  # fmt: skip
        return types

    # -- CDC --------------------------------------------------------------------

    def _write_cdc(
        self, conn: psycopg.Connection, tb: TableBatch, shapes: list[pgoutput.Relation]
    ) -> TableFile:
        """Fill what pgoutput leaves out, write the batch's file, record the mapping."""
        table = self.catalog.describe(conn, tb.table)
        sent = {c.name for c in tb.columns}
        generated = [c for c in table.columns if c.generated and c.name not in sent]
        fill_from_source(conn, tb, generated=[c.name for c in generated])

        def base(c: pgoutput.Column) -> SourceColumn:
            oid, typmod = self.catalog.base_type(conn, c.type_oid, c.type_modifier)
            return SourceColumn(c.name, oid, typmod)

        types = self.catalog.column_types(
            tb.table,
            [(s.name, s.type_oid, s.type_modifier) for s in map(base, tb.columns)]
            + [(c.name, c.type_oid, c.type_modifier) for c in generated],
        )
        # each shape the table took in the batch, in order, so a rename is seen as one;
        # with the generated columns pgoutput leaves out
        for relation in shapes:
            self._record(table, [*map(base, relation.columns), *generated])
        return write_cdc_file(tb, types, cfg=self.cfg, target=self.target)

    def cdc_batch(self, conn: psycopg.Connection, *, upto_lsn: str | None) -> IngestReport | None:
        """Write the next batch of committed changes; None when there is nothing new."""
        state = self.state.get(conn) or {}
        (confirmed,) = conn.execute(
            "select confirmed_flush_lsn::text from pg_replication_slots where slot_name = %s",
            (self.cfg.slot_name,),
        ).fetchone() or (None,)
        if confirmed is None:
            raise DmsSourceError(f"dms: slot {self.cfg.slot_name} is missing; run a full load")
        pending_end = state.get("pending_end")
        if pending_end and pgoutput.lsn_to_int(pending_end) > pgoutput.lsn_to_int(confirmed):
            # A batch was being written when we stopped: re-read exactly that range.
            upto_lsn, limit = pending_end, None
        else:
            limit = self.cfg.max_batch_changes
        rows = conn.execute(
            "select lsn::text, data from pg_logical_slot_peek_binary_changes("
            " %s, %s::pg_lsn, %s, 'proto_version', '1', 'publication_names', %s)",
            (self.cfg.slot_name, upto_lsn, limit, self.cfg.publication),
        ).fetchall()
        if not rows:
            if pending_end:
                self.state.set(conn, pending_start=None, pending_end=None)
            return None
        end_lsn = rows[-1][0]
        if not pending_end or pgoutput.lsn_to_int(pending_end) <= pgoutput.lsn_to_int(confirmed):
            self.state.set(conn, pending_start=confirmed, pending_end=end_lsn)
        got = collect(
            [r[1] for r in rows],
            cfg=self.cfg,
            on_relation=lambda rel: self.catalog.check_table(conn, rel.table),
        )
        report = IngestReport(changes=got.changes, batches=1)
        for relation_id, tb in got.tables.items():
            report.cdc_files.append(self._write_cdc(conn, tb, got.shapes[relation_id]))
        conn.execute("select pg_replication_slot_advance(%s, %s::pg_lsn)",
                     (self.cfg.slot_name, end_lsn))  # fmt: skip
        self.state.set(conn, pending_start=None, pending_end=None)
        landed = datetime.now(UTC)
        report.latencies_s += [(landed - t).total_seconds() for t in got.commit_times]
        return report


def _by_size(conn: psycopg.Connection, schema: str, tables: list[SourceTable]) -> list[SourceTable]:
    """``tables``, the largest on disk first (a partitioned table by its partitions), so
    that parallel loads end together rather than on the largest alone."""
    sizes = dict(
        conn.execute(
            "select t.name, coalesce(sum(pg_total_relation_size(p.relid)), 0) "
            "from unnest(%s::text[]) t(name), "
            "pg_partition_tree(format('%%I.%%I', %s::text, t.name)::regclass) p "
            "group by t.name",
            ([t.name for t in tables], schema),
        ).fetchall()
    )
    return sorted(tables, key=lambda t: -sizes.get(t.name, 0))
