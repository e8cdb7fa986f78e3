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
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from minio import Minio
from psycopg import sql

from sandbox.ingest.dms.cdc import TableBatch, collect, fill_from_source, write_cdc_file
from sandbox.ingest.dms.control import (
    TaskState,
    WriterLock,
    flushed_lsn,
    live_slot,
)
from sandbox.ingest.dms.errors import DmsSourceError
from sandbox.ingest.dms.full_load import biggest_first, load_tables
from sandbox.ingest.dms.mappings import MappingStore
from sandbox.ingest.dms.naming import change_seq
from sandbox.ingest.dms.pgoutput import lsn_to_int
from sandbox.ingest.dms.shapes import TableShapes
from sandbox.ingest.dms.source import SourceCatalog, SourceTable
from sandbox.ingest.dms.target import IngestReport, RawTarget, TableFile
from sandbox.platform import Progress, Settings, quiet
from sandbox.platform.services import s3_client

log = logging.getLogger(__name__)

# Steps of a CDC batch a fault-injection hook (``DmsTask(on_step=...)``) is called at:
# "uploaded" (every object in S3, nothing acknowledged) and "acknowledged" (the slot
# advanced). Tests kill the source there.
Step = Callable[[str], None]

# An idle slot is moved past WAL that holds no change of the source (other databases'
# writes, checkpoints) while it holds back this much: one WAL segment.
IDLE_ADVANCE_BYTES = 16 * 1024 * 1024


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
        self.shapes = TableShapes(self.catalog, self._mapping_store())
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
            upto = flushed_lsn(conn)
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
                        progress(
                            f"dms: the source is back after "
                            f"{time.monotonic() - lost_at:.1f}s; replicating"
                        )
                        lost_at = None
                    self._follow(conn, report, stopped, progress)
            except psycopg.OperationalError as exc:
                if lost_at is None:
                    lost_at = time.monotonic()
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "closed"
                    progress(
                        f"dms: lost the source database ({reason}); retrying every "
                        f"{self.cfg.recoverable_error_interval_s:g}s"
                    )
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
            with self.writer.hold(
                conn, wait_s=None, progress=progress, should_stop=stopped
            ) as held:
                if not held:
                    return
                batch = self.cdc_batch(conn, upto_lsn=None)
            if batch is not None:
                report.merge(batch)
                progress(f"cdc: {report.changes} changes in {len(report.cdc_files)} files")
                continue  # more may be waiting: drain before sleeping
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _mapping_store(self) -> MappingStore:
        return MappingStore(self.target.s3, self.target.bucket, self.cfg.bucket_folder)

    def _taken_over(self) -> None:
        """Forget what another writer may have changed since this one last held the task."""
        self.shapes.mappings = self._mapping_store()

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
        self.state.set(
            conn, full_load_done=False, pending_start=None, pending_end=None, written_upto=None
        )
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
            lsn_value, snapshot_value = res.get_value(0, 1), res.get_value(0, 2)
            if lsn_value is None or snapshot_value is None:
                raise DmsSourceError(
                    f"dms: slot {self.cfg.slot_name} came without a consistent point or snapshot"
                )
            consistent_lsn = lsn_value.decode()
            snapshot = snapshot_value.decode()
            transfer_time = datetime.now(UTC)
            seq = change_seq(lsn_to_int(consistent_lsn), 0)
            with self.connect() as snap:
                snap.execute("begin isolation level repeatable read")
                snap.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot)))
                described = [self.catalog.describe(snap, table) for table in tables]
                ordered = biggest_first(snap, self.cfg.source_schema, described)
                snap.execute("commit")
            types = {
                t.name: self.catalog.column_types(
                    t.name, [(c.name, c.type_oid, c.type_modifier) for c in t.columns]
                )
                for t in described
            }

            # The snapshot stays importable while `repl` is open, that is, in this block.
            loaded = load_tables(
                self.settings,
                snapshot,
                ordered,
                types,
                target=self.target,
                transfer_time=transfer_time,
                seq=seq,
                on_loaded=lambda t, files: self._loaded(t, files, progress),
            )
            for table in described:
                report.full_load_files += loaded[table.name]
        self.state.set(
            conn, full_load_done=True, consistent_lsn=consistent_lsn, written_upto=consistent_lsn
        )
        self._written = consistent_lsn
        return report

    def _loaded(self, table: SourceTable, files: list[TableFile], progress: Progress) -> None:
        self.shapes.record(table, table.columns, fresh=True)
        rows = sum(f.rows for f in files)
        progress(f"full load: {table.schema}.{table.name}: {rows} rows")

    def _write_cdc(self, conn: psycopg.Connection, tb: TableBatch) -> TableFile:
        """Fill what pgoutput leaves out, write the batch's file, record the mapping."""
        now = self.catalog.describe_oid(conn, tb.relation_id)
        table = self.shapes.as_streamed(conn, tb, now)
        generated = [c.name for c in table.columns if c.generated]
        fill_from_source(conn, tb, generated=generated, now=now)
        types = self.shapes.record_streamed(conn, tb, table)
        return write_cdc_file(tb, types, cfg=self.cfg, target=self.target)

    def cdc_batch(self, conn: psycopg.Connection, *, upto_lsn: str | None) -> IngestReport | None:
        """Write the next batch of committed changes; None when there is nothing new.

        ``upto_lsn`` None reads up to the WAL flushed now (``--follow``).
        """
        state = self.state.get(conn) or {}
        slot = live_slot(conn, self.cfg.slot_name)
        confirmed = slot.confirmed_flush_lsn or "0/0"
        written = state.get("written_upto")
        if self._written is not None and written != self._written:
            self._taken_over()  # another writer wrote in between: its mappings are newer
        if written and lsn_to_int(written) > lsn_to_int(confirmed):
            behind = lsn_to_int(written) - lsn_to_int(confirmed)
            line = (
                f"dms: slot {self.cfg.slot_name} is behind what was already written "
                f"({confirmed} < {written}; the source restarted before it saved the "
                f"slot): re-reading {behind} bytes of WAL to skip them"
            )
            log.warning(line)
            self._advance(conn, written)
            confirmed = written
        pending_end = state.get("pending_end")
        if pending_end and lsn_to_int(pending_end) > lsn_to_int(confirmed):
            # A batch was being written when we stopped: re-read exactly that range.
            upto_lsn, limit = pending_end, None
        else:
            pending_end = None
            upto_lsn = upto_lsn or flushed_lsn(conn)
            limit = self.cfg.max_batch_changes
        rows = conn.execute(
            "select lsn::text, data from pg_logical_slot_peek_binary_changes("
            " %s, %s::pg_lsn, %s, 'proto_version', '1', 'publication_names', %s)",
            (self.cfg.slot_name, upto_lsn, limit, self.cfg.publication),
        ).fetchall()
        if not rows:
            if pending_end:
                self.state.set(conn, pending_start=None, pending_end=None)
            elif slot.retained_bytes >= IDLE_ADVANCE_BYTES and lsn_to_int(upto_lsn) > lsn_to_int(
                confirmed
            ):
                # Nothing of the source up to `upto_lsn`, only other WAL (the warehouse
                # shares the server): let the slot release it. (Postgres moves the
                # slot's restart point on an advance that passes a running-xacts record,
                # logged at checkpoints and every 15 s: within a few polls.)
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
        conn.execute(
            "select pg_replication_slot_advance(%s, %s::pg_lsn)", (self.cfg.slot_name, lsn)
        )
