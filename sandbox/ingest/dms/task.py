"""The DMS task: full load, then CDC from a ``pgoutput`` logical replication slot.

Guarantees, and how they are kept:

* **The full load and CDC meet exactly.** The slot is created on a replication
  connection that exports its snapshot; the full load reads every table in that
  snapshot, so each change is either in a LOAD file or in a CDC file, never both.
* **No change lost, whatever crashes.** Changes are *peeked*, written to S3, and
  only then acknowledged. The acknowledgement has two parts, in this order:
  ``written_upto`` (the end of the batch) committed in the source database, then
  ``pg_replication_slot_advance``. The commit is durable; the slot advance is not (it
  reaches disk at the next checkpoint, so a crashed *source* brings the slot back up
  to several batches). Each batch therefore starts by comparing the two: a slot
  behind ``written_upto`` is moved forward again, with one line saying how much WAL
  that re-reads, and nothing already written is read as new. A crash of the *task*
  before the acknowledgement re-delivers the batch.
* **None doubled.** Before uploading, the batch's LSN range is recorded
  (``pending_start``/``pending_end``). After a crash that same range is re-read, and
  every object is identified by the changes it holds, first to last (object
  metadata), not by where it starts: a re-delivered object is found and kept; an
  object that only starts at the same place is another batch, written beside it. So
  a change is at worst in raw twice (bronze keeps the last change per key), never
  missing.
* **A lost slot is said, not papered over.** A slot that is gone (dropped, a restore
  or failover) or invalidated (it held more WAL than ``max_slot_wal_keep_size``)
  stops the task with :class:`DmsSlotLostError` naming ``sandbox ingest dms
  --reload``: only a new full load can go on from there.
* **DDL mid-stream never wedges the task.** A batch is shaped by the replication
  stream's relation messages, never by today's catalog: a table dropped or renamed
  since its changes, or a column whose type changed inside the batch, is written as
  it was (a type change or a rename starts a new object). The catalog, looked up by
  the table's oid, only supplies what pgoutput leaves out (primary key, stored
  generated columns, unchanged TOAST values), and what it no longer has is NULL with
  a warning.
* **One writer per task.** An advisory lock on the source (:class:`WriterLock`):
  ``sandbox ingest dms`` holds it for its run, ``--follow`` for each batch, so two
  writers take turns, batch by batch, and never interleave.
* **The follower outlives the source.** ``--follow`` retries a lost connection
  every ``recoverable_error_interval_s``, as DMS's recoverable errors do, saying once
  when the source went and when it came back.

Object layout (as the AWS DMS S3 target with ``DataFormat=parquet``)::

    <BucketFolder>/<schema>/<table>/LOAD00000001.parquet            full load
    <BucketFolder>/[<CdcPath>/]<schema>/<table>/[yyyy/mm/dd/]<yyyymmdd-hhmmssfff>.parquet
"""

from __future__ import annotations

import logging
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
from sandbox.ingest.dms.control import SlotStatus, TaskState, WriterLock, slot_status
from sandbox.ingest.dms.full_load import copy_out, load_table
from sandbox.ingest.dms.mappings import MappingStore, TableMapping
from sandbox.ingest.dms.naming import change_seq
from sandbox.ingest.dms.source import (
    DmsBusyError,
    DmsSlotLostError,
    DmsSourceError,
    SourceCatalog,
    SourceColumn,
    SourceTable,
)
from sandbox.ingest.dms.target import RawTarget, TableFile
from sandbox.ingest.dms.types import ColumnType
from sandbox.platform.progress import Progress, quiet
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.settings import Settings

__all__ = [
    "DmsBusyError",
    "DmsSlotLostError",
    "DmsSourceError",
    "DmsTask",
    "IngestReport",
    "SlotStatus",
    "TableFile",
    "slot_status",
]

log = logging.getLogger(__name__)

# Steps of a CDC batch a fault-injection hook (``DmsTask(on_step=...)``) is called at:
# "uploaded" (every object in S3, nothing acknowledged) and "acknowledged" (the slot
# advanced). Tests kill the source there.
Step = Callable[[str], None]

# An idle slot is moved past WAL that holds no change of the source (other databases'
# writes, checkpoints) once it holds back this much: one WAL segment.
IDLE_ADVANCE_BYTES = 16 * 1024 * 1024
RELOAD_HINT = "run `sandbox ingest dms --reload` for a new full load"


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

    def __init__(
        self, settings: Settings, *, s3: Minio | None = None, on_step: Step | None = None
    ) -> None:
        self.settings = settings
        self.cfg = settings.dms
        self.target = RawTarget(s3 or s3_client(settings), settings.raw_bucket)
        self.catalog = SourceCatalog(self.cfg.source_schema)
        self.state = TaskState(self.cfg.slot_name)
        self.writer = WriterLock(self.cfg.slot_name)
        self.mappings = MappingStore(self.target.s3, self.target.bucket, self.cfg.bucket_folder)
        self.on_step = on_step
        self._written: str | None = None  # what this writer last acknowledged
        self.role = "sandbox ingest dms"  # how another writer sees this one

    def connect(self, **kwargs) -> psycopg.Connection:
        conn = psycopg.connect(
            self.settings.postgres_url(self.settings.app_db),
            application_name=f"{self.role} (pid {os.getpid()})"[:63],
            **kwargs,
        )
        conn.execute("set timezone = 'UTC'; set datestyle = 'ISO, YMD'")
        return conn

    # -- entry points -------------------------------------------------------------

    def run(self, progress: Progress = quiet, *, reload: bool = False) -> IngestReport:
        """Full load if it was not done (or ``reload``), then CDC up to the current end
        of the WAL. Raises :class:`DmsSlotLostError` when the slot is gone or
        invalidated, :class:`DmsBusyError` when another writer keeps the task longer
        than ``writer_wait_s``."""
        report = IngestReport()
        wait_s = self.cfg.writer_wait_s
        with (
            self.connect(autocommit=True) as conn,
            self.writer.hold(conn, wait_s=wait_s, progress=progress),
        ):
            self._taken_over()
            self.state.ensure(conn)
            state = self.state.get(conn)
            if reload or not (state and state["full_load_done"]):
                report.merge(self.full_load(conn, progress))
            upto = _flushed(conn)
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
        """Run continuously: a CDC batch every ``cdc_max_batch_interval_s``.

        The task is held one batch at a time, so a ``run`` started meanwhile goes
        between two batches. A lost source (a crash, a restart) is retried every
        ``recoverable_error_interval_s`` until it is back; a lost slot stops it.
        """
        self.role = "sandbox ingest dms --follow"
        deadline = None if duration_s is None else time.monotonic() + duration_s

        def stopped() -> bool:
            late = deadline is not None and time.monotonic() >= deadline
            return late or bool(should_stop and should_stop())

        report = IngestReport()
        caught_up = False  # the first `run` (full load, backlog) is done
        lost_at: float | None = None
        while not stopped():
            try:
                if not caught_up:
                    report.merge(self.run(progress))
                    caught_up = True
                with self.connect(autocommit=True) as conn:
                    if lost_at is not None:
                        progress(f"dms: the source is back after "
                                 f"{time.monotonic() - lost_at:.1f}s; replicating")  # fmt: skip
                        lost_at = None
                    self._follow(conn, report, stopped, progress)
            except psycopg.OperationalError as exc:
                if lost_at is None:
                    lost_at = time.monotonic()
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "closed"
                    progress(f"dms: lost the source database ({reason}); retrying every "
                             f"{self.cfg.recoverable_error_interval_s:g}s")  # fmt: skip
                time.sleep(self.cfg.recoverable_error_interval_s)
        return report

    def _follow(
        self,
        conn: psycopg.Connection,
        report: IngestReport,
        stopped: Callable[[], bool],
        progress: Progress,
    ) -> None:
        interval = self.cfg.cdc_max_batch_interval_s
        while not stopped():
            started = time.monotonic()
            with self.writer.hold(conn, wait_s=None, progress=progress,
                                  should_stop=stopped) as held:  # fmt: skip
                if not held:
                    return
                batch = self.cdc_batch(conn, upto_lsn=None)
            if batch is not None:
                report.merge(batch)
                progress(f"cdc: {report.changes} changes in {len(report.cdc_files)} files")
                continue  # more may be waiting: drain before sleeping
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _taken_over(self) -> None:
        """Forget what another writer may have changed since this one last held the task."""
        self.mappings = MappingStore(self.target.s3, self.target.bucket, self.cfg.bucket_folder)

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)

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
        self.state.set(conn, full_load_done=False, pending_start=None, pending_end=None,
                       written_upto=None)  # fmt: skip
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
        self.state.set(conn, full_load_done=True, consistent_lsn=consistent_lsn,
                       written_upto=consistent_lsn)  # fmt: skip
        self._written = consistent_lsn
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

    def _as_streamed(
        self, conn: psycopg.Connection, tb: TableBatch, now: SourceTable | None
    ) -> SourceTable:
        """The table as the batch's changes describe it, under the name they carry.

        Columns and their types come from the stream. The primary key, whether it is
        partitioned and its stored generated columns come from the catalog, found by
        oid, while the table still exists; after a drop, from the mapping recorded
        before, else the stream's replica identity.
        """
        last = tb.shapes[-1]
        if now is not None:
            key, partitioned = now.primary_key, now.partitioned
            generated = tuple(c for c in now.columns if c.generated)
        else:
            before: TableMapping | None = self.mappings.get(tb.schema, tb.table)
            streamed = () if last.replica_identity == "f" else tb.key
            key = tuple(before.primary_key) if before else streamed
            partitioned = before.partitioned if before else False
            generated = ()
        sent = {c.name for c in tb.columns}
        columns = [self._base(conn, c) for c in tb.columns]
        columns += [c for c in generated if c.name not in sent]
        return SourceTable(tb.schema, tb.table, tuple(columns), key, last.replica_identity,
                           partitioned)  # fmt: skip

    def _base(self, conn: psycopg.Connection, c: pgoutput.Column) -> SourceColumn:
        oid, typmod = self.catalog.base_type(conn, c.type_oid, c.type_modifier)
        return SourceColumn(c.name, oid, typmod)

    def _write_cdc(self, conn: psycopg.Connection, tb: TableBatch) -> TableFile:
        """Fill what pgoutput leaves out, write the batch's file, record the mapping."""
        now = self.catalog.describe_oid(conn, tb.relation_id)
        name = f"{tb.schema}.{tb.table}"
        if now is None:
            log.warning("dms: %s was dropped after these changes: they are written as the "
                        "replication stream had them", name)  # fmt: skip
        elif now.name != tb.table:
            log.warning("dms: %s is now %s.%s (renamed): its later changes land under %s/, "
                        "which has no full load: %s", name, now.schema, now.name, now.name,
                        RELOAD_HINT)  # fmt: skip
        table = self._as_streamed(conn, tb, now)
        generated = [c for c in table.columns if c.generated]
        fill_from_source(conn, tb, generated=[c.name for c in generated], now=now)
        types = self.catalog.column_types(
            tb.table, [(c.name, c.type_oid, c.type_modifier) for c in table.columns]
        )
        # each shape the table took in the batch, in order, so a rename is seen as one;
        # with the generated columns pgoutput leaves out
        for relation in tb.shapes:
            self._record(table, [*(self._base(conn, c) for c in relation.columns), *generated])
        return write_cdc_file(tb, types, cfg=self.cfg, target=self.target)

    def slot(self, conn: psycopg.Connection) -> SlotStatus:
        """The task's slot; raises :class:`DmsSlotLostError` if it is gone or invalidated."""
        status = slot_status(conn, self.cfg.slot_name)
        if not status.exists:
            raise DmsSlotLostError(
                f"dms: replication slot {self.cfg.slot_name} is gone (dropped, or the source "
                f"was restored or failed over), so the changes since the last batch cannot "
                f"be read: {RELOAD_HINT}"
            )
        if status.wal_status == "lost":
            (keep,) = conn.execute("show max_slot_wal_keep_size").fetchone()
            raise DmsSlotLostError(
                f"dms: replication slot {self.cfg.slot_name} was invalidated: it held back "
                f"more WAL than max_slot_wal_keep_size ({keep}) and Postgres removed changes "
                f"it had not read: {RELOAD_HINT}"
            )
        return status

    def cdc_batch(self, conn: psycopg.Connection, *, upto_lsn: str | None) -> IngestReport | None:
        """Write the next batch of committed changes; None when there is nothing new.

        ``upto_lsn`` None reads up to the WAL flushed now (``--follow``).
        """
        state = self.state.get(conn) or {}
        confirmed = self.slot(conn).confirmed_flush_lsn or "0/0"
        written = state.get("written_upto")
        if self._written is not None and written != self._written:
            self._taken_over()  # another writer wrote in between: its mappings are newer
        if written and lsn_int(written) > lsn_int(confirmed):
            behind = lsn_int(written) - lsn_int(confirmed)
            line = (f"dms: slot {self.cfg.slot_name} is behind what was already written "
                    f"({confirmed} < {written}; the source restarted before it saved the "
                    f"slot): re-reading {behind} bytes of WAL to skip them")  # fmt: skip
            log.warning(line)
            self._advance(conn, written)
            confirmed = written
        pending_end = state.get("pending_end")
        if pending_end and lsn_int(pending_end) > lsn_int(confirmed):
            # A batch was being written when we stopped: re-read exactly that range.
            upto_lsn, limit = pending_end, None
        else:
            pending_end = None
            upto_lsn = upto_lsn or _flushed(conn)
            limit = self.cfg.max_batch_changes
        rows = conn.execute(
            "select lsn::text, data from pg_logical_slot_peek_binary_changes("
            " %s, %s::pg_lsn, %s, 'proto_version', '1', 'publication_names', %s)",
            (self.cfg.slot_name, upto_lsn, limit, self.cfg.publication),
        ).fetchall()
        if not rows:
            if pending_end:
                self.state.set(conn, pending_start=None, pending_end=None)
            elif lsn_int(upto_lsn) - lsn_int(confirmed) >= IDLE_ADVANCE_BYTES:
                # Nothing of the source up to `upto_lsn`, only other WAL (the warehouse
                # shares the server): let the slot release it.
                self._acknowledge(conn, upto_lsn)
            return None
        end_lsn = rows[-1][0]
        if not pending_end:
            self.state.set(conn, pending_start=confirmed, pending_end=end_lsn)
        got = collect([r[1] for r in rows], cfg=self.cfg, on_relation=self.catalog.check_relation)
        report = IngestReport(changes=got.changes, batches=1)
        for tb in got.tables:
            report.cdc_files.append(self._write_cdc(conn, tb))
        self._step("uploaded")
        self._acknowledge(conn, end_lsn)
        self._step("acknowledged")
        landed = datetime.now(UTC)
        report.latencies_s += [(landed - t).total_seconds() for t in got.commit_times]
        return report

    def _acknowledge(self, conn: psycopg.Connection, lsn: str) -> None:
        """Written up to ``lsn``: first durably in the task's state, then in the slot
        (whose advance a crash may undo; the next batch redoes it from the state)."""
        self.state.set(conn, written_upto=lsn, pending_start=None, pending_end=None)
        self._written = lsn
        self._advance(conn, lsn)

    def _advance(self, conn: psycopg.Connection, lsn: str) -> None:
        conn.execute("select pg_replication_slot_advance(%s, %s::pg_lsn)",
                     (self.cfg.slot_name, lsn))  # fmt: skip


def _flushed(conn: psycopg.Connection) -> str:
    """The end of the WAL on disk: every transaction committed before it is decodable."""
    (lsn,) = conn.execute("select pg_current_wal_flush_lsn()::text").fetchone()
    return lsn


def lsn_int(lsn: str) -> int:
    return pgoutput.lsn_to_int(lsn)


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
