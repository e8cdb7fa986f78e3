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

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from minio import Minio
from minio.error import S3Error
from psycopg import sql

from sandbox.dms import pgoutput
from sandbox.dms.types import ColumnType, column_type, to_arrow
from sandbox.services.base import SandboxError
from sandbox.services.s3 import s3_client
from sandbox.settings import DmsSettings, Settings

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

CONTROL_SCHEMA = "sandbox_dms"
ROW_GROUP_ROWS = 50_000


class DmsSourceError(SandboxError):
    """The source database cannot be replicated as configured (names the table)."""


@dataclass
class TableFile:
    key: str
    rows: int


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


def _quiet(_: str) -> None:
    pass


# -- naming -------------------------------------------------------------------


def load_key(cfg: DmsSettings, schema: str, table: str, counter: int) -> str:
    """``LOAD00000001.parquet``: an incrementing hexadecimal counter, as DMS."""
    return f"{cfg.bucket_folder}/{schema}/{table}/LOAD{counter:08X}.parquet"


def cdc_key(
    cfg: DmsSettings, schema: str, table: str, commit_time: datetime, suffix: int = 0
) -> str:
    """A CDC object named by the commit time of its first change (UTC, milliseconds)."""
    t = commit_time.astimezone(UTC)
    parts = [cfg.bucket_folder]
    if cfg.cdc_path:
        parts.append(cfg.cdc_path.strip("/"))
    parts += [schema, table]
    if cfg.date_partition_enabled:
        parts += [f"{t:%Y}", f"{t:%m}", f"{t:%d}"]
    name = f"{t:%Y%m%d-%H%M%S}{t.microsecond // 1000:03d}"
    if suffix:
        name += f"-{suffix}"
    return "/".join([*parts, f"{name}.parquet"])


def change_seq(lsn: int, index: int) -> str:
    """``$AR_H_CHANGE_SEQ``-style ordering key: 20-digit LSN + 15-digit change index."""
    return f"{lsn:020d}{index:015d}"


def dms_timestamp(t: datetime) -> str:
    """DMS writes the TimestampColumnName column as a string with microseconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- the task -------------------------------------------------------------------


@dataclass
class _TableBatch:
    """The CDC rows of one table within one batch, in commit order."""

    schema: str
    table: str
    columns: list[pgoutput.Column]
    first_commit: datetime
    first_lsn: int
    ops: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    seqs: list[str] = field(default_factory=list)
    rows: list[dict[str, object]] = field(default_factory=list)


class DmsTask:
    """One replication task from the ``app`` database to the raw bucket."""

    def __init__(self, settings: Settings, *, s3: Minio | None = None) -> None:
        self.settings = settings
        self.cfg = settings.dms
        self.s3 = s3 or s3_client(settings)
        self.bucket = settings.raw_bucket
        self._warned: set[tuple[str, str]] = set()
        self._checked_tables: set[str] = set()

    # -- connections and control state ----------------------------------------

    def connect(self, **kwargs) -> psycopg.Connection:
        conn = psycopg.connect(self.settings.postgres_url(self.settings.app_db), **kwargs)
        conn.execute("set timezone = 'UTC'; set datestyle = 'ISO, YMD'")
        return conn

    def _ensure_control(self, conn: psycopg.Connection) -> None:
        conn.execute(
            sql.SQL(
                "create schema if not exists {s};"
                "create table if not exists {s}.task_state ("
                " slot_name text primary key, full_load_done boolean not null default false,"
                " consistent_lsn text, pending_start text, pending_end text,"
                " updated_at timestamptz not null default now())"
            ).format(s=sql.Identifier(CONTROL_SCHEMA))
        )

    def _state(self, conn: psycopg.Connection) -> dict | None:
        cur = conn.execute(
            sql.SQL(
                "select full_load_done, consistent_lsn, pending_start, pending_end "
                "from {}.task_state where slot_name = %s"
            ).format(sql.Identifier(CONTROL_SCHEMA)),
            (self.cfg.slot_name,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(
            zip(
                ("full_load_done", "consistent_lsn", "pending_start", "pending_end"),
                row,
                strict=True,
            )
        )

    def _set_state(self, conn: psycopg.Connection, **values: object) -> None:
        cols = list(values)
        conn.execute(
            sql.SQL(
                "insert into {t} (slot_name, {cols}) values (%s, {vals}) "
                "on conflict (slot_name) do update set {sets}, updated_at = now()"
            ).format(
                t=sql.Identifier(CONTROL_SCHEMA, "task_state"),
                cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
                vals=sql.SQL(", ").join(sql.Placeholder() * len(cols)),
                sets=sql.SQL(", ").join(
                    sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in cols
                ),
            ),
            (self.cfg.slot_name, *values.values()),
        )

    # -- source checks ----------------------------------------------------------

    def source_tables(self, conn: psycopg.Connection) -> list[str]:
        """Tables of the source schema, after checking each can be replicated."""
        rows = conn.execute(
            "select c.relname, c.relreplident, "
            " exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary) "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition "
            "order by c.relname",
            (self.cfg.source_schema,),
        ).fetchall()
        for name, identity, has_pk in rows:
            self._check_identity(name, identity, has_pk)
        return [r[0] for r in rows]

    def _check_identity(self, table: str, identity: str, has_pk: bool) -> None:
        if has_pk or identity in ("f", "i"):
            return
        qualified = f"{self.cfg.source_schema}.{table}"
        raise DmsSourceError(
            f"dms: table {qualified} has no primary key, so its updates and deletes "
            f"cannot be replicated. Add a primary key, or run "
            f"`ALTER TABLE {qualified} REPLICA IDENTITY FULL` to replicate whole rows."
        )

    def _check_table_now(self, conn: psycopg.Connection, table: str) -> None:
        if table in self._checked_tables:
            return
        row = conn.execute(
            "select c.relreplident, exists (select 1 from pg_index i "
            " where i.indrelid = c.oid and i.indisprimary) "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s",
            (self.cfg.source_schema, table),
        ).fetchone()
        if row is not None:
            self._check_identity(table, row[0], row[1])
        self._checked_tables.add(table)

    def _column_types(self, table: str, columns: list[tuple[str, int, int]]) -> list[ColumnType]:
        out = []
        for name, oid, typmod in columns:
            warn = (table, name) not in self._warned
            ct = column_type(f"{self.cfg.source_schema}.{table}", name, oid, typmod, warn=warn)
            if not ct.supported:
                self._warned.add((table, name))
            out.append(ct)
        return out

    # -- entry points -------------------------------------------------------------

    def run(self, progress: Progress = _quiet) -> IngestReport:
        """Full load if it was not done, then CDC up to the current end of the WAL."""
        report = IngestReport()
        with self.connect(autocommit=True) as conn:
            self._ensure_control(conn)
            state = self._state(conn)
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
        progress: Progress = _quiet,
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

    # -- full load ------------------------------------------------------------------

    def _slot_exists(self, conn: psycopg.Connection) -> bool:
        return (
            conn.execute(
                "select 1 from pg_replication_slots where slot_name = %s", (self.cfg.slot_name,)
            ).fetchone()
            is not None
        )

    def full_load(self, conn: psycopg.Connection, progress: Progress = _quiet) -> IngestReport:
        """(Re)start replication: new slot, consistent snapshot, LOAD files per table."""
        report = IngestReport()
        tables = self.source_tables(conn)
        if self._slot_exists(conn):
            conn.execute("select pg_drop_replication_slot(%s)", (self.cfg.slot_name,))
        self._set_state(conn, full_load_done=False, pending_start=None, pending_end=None)
        exists = conn.execute(
            "select 1 from pg_publication where pubname = %s", (self.cfg.publication,)
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("create publication {} for tables in schema {}").format(
                    sql.Identifier(self.cfg.publication), sql.Identifier(self.cfg.source_schema)
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
                for table in tables:
                    self._clear_load_files(table)
                    files = self._load_table(snap, table, transfer_time, seq)
                    report.full_load_files += files
                    rows = sum(f.rows for f in files)
                    progress(f"full load: {self.cfg.source_schema}.{table}: {rows} rows")
                snap.execute("commit")
        self._set_state(conn, full_load_done=True, consistent_lsn=consistent_lsn)
        return report

    def _clear_load_files(self, table: str) -> None:
        prefix = f"{self.cfg.bucket_folder}/{self.cfg.source_schema}/{table}/LOAD"
        for obj in self.s3.list_objects(self.bucket, prefix=prefix):
            self.s3.remove_object(self.bucket, obj.object_name)

    def _load_table(
        self, conn: psycopg.Connection, table: str, transfer_time: datetime, seq: str
    ) -> list[TableFile]:
        attrs = conn.execute(
            "select a.attname, a.atttypid::int, a.atttypmod from pg_attribute a "
            "where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped "
            "order by a.attnum",
            (f'"{self.cfg.source_schema}"."{table}"',),
        ).fetchall()
        types = self._column_types(table, attrs)
        buf = io.BytesIO()
        query = sql.SQL("copy (select {cols} from {t}) to stdout (format csv)").format(
            cols=sql.SQL(", ").join(sql.Identifier(a[0]) for a in attrs),
            t=sql.Identifier(self.cfg.source_schema, table),
        )
        with conn.cursor().copy(query) as copy:
            for chunk in copy:
                buf.write(chunk)
        names = [a[0] for a in attrs]
        if buf.tell() == 0:
            return []  # DMS creates no folder for an empty table
        buf.seek(0)
        text = pacsv.read_csv(
            buf,
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
        n = text.num_rows
        columns: list[tuple[str, pa.Array]] = []
        if self.cfg.include_op_for_full_load:
            columns.append(("Op", pa.array(["I"] * n, pa.string())))
        if self.cfg.timestamp_column_name:
            columns.append((self.cfg.timestamp_column_name,
                            pa.array([dms_timestamp(transfer_time)] * n, pa.string())))  # fmt: skip
        if self.cfg.change_seq_column_name:
            columns.append((self.cfg.change_seq_column_name, pa.array([seq] * n, pa.string())))
        for ct in types:
            columns.append((ct.name, to_arrow(text.column(ct.name).combine_chunks(), ct.arrow)))
        data = pa.table(dict(columns))
        return self._write_load_files(table, data)

    def _write_load_files(self, table: str, data: pa.Table) -> list[TableFile]:
        """Split ``data`` into LOAD files of about ``max_file_size_kb`` each.

        Files grow a row group at a time; row groups are sized from a probe so that a
        file overshoots the limit by at most a quarter.
        """
        limit = self.cfg.max_file_size_kb * 1024
        probe = io.BytesIO()
        sample = data.slice(0, 1000)
        pq.write_table(sample, probe)
        per_row = max(1.0, probe.tell() / max(sample.num_rows, 1))
        step = max(1, min(ROW_GROUP_ROWS, int(limit / per_row / 4)))
        files: list[TableFile] = []
        offset = 0
        while offset < data.num_rows:
            sink = io.BytesIO()
            rows = 0
            with pq.ParquetWriter(sink, data.schema) as writer:
                while offset < data.num_rows and sink.tell() < limit:
                    chunk = data.slice(offset, step)
                    writer.write_table(chunk, row_group_size=step)
                    offset += chunk.num_rows
                    rows += chunk.num_rows
            key = load_key(self.cfg, self.cfg.source_schema, table, len(files) + 1)
            self._put(key, sink.getvalue())
            files.append(TableFile(key, rows))
        return files

    def _put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        self.s3.put_object(self.bucket, key, io.BytesIO(body), len(body),
                           content_type="application/octet-stream", metadata=metadata)  # fmt: skip

    # -- CDC ------------------------------------------------------------------------

    def cdc_batch(self, conn: psycopg.Connection, *, upto_lsn: str | None) -> IngestReport | None:
        """Write the next batch of committed changes; None when there is nothing new."""
        state = self._state(conn) or {}
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
                self._set_state(conn, pending_start=None, pending_end=None)
            return None
        end_lsn = rows[-1][0]
        if not pending_end or pgoutput.lsn_to_int(pending_end) <= pgoutput.lsn_to_int(confirmed):
            self._set_state(conn, pending_start=confirmed, pending_end=end_lsn)
        tables, changes, commit_times = self._collect(conn, rows)
        report = IngestReport(changes=changes, batches=1)
        for tb in tables.values():
            report.cdc_files.append(self._write_cdc_file(tb))
        conn.execute("select pg_replication_slot_advance(%s, %s::pg_lsn)",
                     (self.cfg.slot_name, end_lsn))  # fmt: skip
        self._set_state(conn, pending_start=None, pending_end=None)
        landed = datetime.now(UTC)
        report.latencies_s += [(landed - t).total_seconds() for t in commit_times]
        return report

    def _collect(
        self, conn: psycopg.Connection, rows: list[tuple[str, bytes]]
    ) -> tuple[dict[int, _TableBatch], int, list[datetime]]:
        relations: dict[int, pgoutput.Relation] = {}
        tables: dict[int, _TableBatch] = {}
        pending: list[pgoutput.Change] = []
        keep = {"I"} if self.cfg.cdc_inserts_only else (
            {"I", "U"} if self.cfg.cdc_inserts_and_updates else {"I", "U", "D"})  # fmt: skip
        changes = 0
        commit_times: list[datetime] = []
        for _lsn, data in rows:
            msg = pgoutput.decode(data)
            if isinstance(msg, pgoutput.Change):
                pending.append(msg)
            elif isinstance(msg, pgoutput.Commit):
                ts = dms_timestamp(msg.commit_time)
                for index, ch in enumerate(pending):
                    if ch.op not in keep:
                        continue
                    rel = relations[ch.relation_id]
                    tb = tables.get(ch.relation_id)
                    if tb is None:
                        tb = tables[ch.relation_id] = _TableBatch(
                            rel.schema, rel.table, list(rel.columns), msg.commit_time,
                            msg.commit_lsn,
                        )  # fmt: skip
                    values = ch.new if ch.new is not None else ch.old
                    row = {}
                    for col, value in zip(rel.columns, values or (), strict=False):
                        row[col.name] = None if value is pgoutput.UNCHANGED else value
                    tb.ops.append(ch.op)
                    tb.times.append(ts)
                    tb.seqs.append(change_seq(msg.commit_lsn, index))
                    tb.rows.append(row)
                changes += len(pending)
                pending = []
                commit_times.append(msg.commit_time)
            elif isinstance(msg, pgoutput.Relation):
                self._check_table_now(conn, msg.table)
                relations[msg.relation_id] = msg
                tb = tables.get(msg.relation_id)
                if tb is not None:
                    # Schema change mid-batch: the file carries the union of columns.
                    known = {c.name for c in tb.columns}
                    tb.columns += [c for c in msg.columns if c.name not in known]
            elif isinstance(msg, pgoutput.Truncate):
                log.warning("dms: TRUNCATE of relations %s is not replicated (as in AWS DMS)",
                            msg.relation_ids)  # fmt: skip
        return tables, changes, commit_times

    def _write_cdc_file(self, tb: _TableBatch) -> TableFile:
        types = self._column_types(
            tb.table, [(c.name, c.type_oid, c.type_modifier) for c in tb.columns]
        )
        columns: dict[str, pa.Array] = {"Op": pa.array(tb.ops, pa.string())}
        if self.cfg.timestamp_column_name:
            columns[self.cfg.timestamp_column_name] = pa.array(tb.times, pa.string())
        if self.cfg.change_seq_column_name:
            columns[self.cfg.change_seq_column_name] = pa.array(tb.seqs, pa.string())
        for ct in types:
            columns[ct.name] = to_arrow([r.get(ct.name) for r in tb.rows], ct.arrow)
        data = pa.table(columns)
        sink = io.BytesIO()
        pq.write_table(data, sink)
        body = sink.getvalue()
        first_lsn = pgoutput.int_to_lsn(tb.first_lsn)
        key = self._free_cdc_key(tb, first_lsn)
        self._put(key, body, metadata={"dms-first-lsn": first_lsn})
        return TableFile(key, data.num_rows)

    def _free_cdc_key(self, tb: _TableBatch, first_lsn: str) -> str:
        """The object name for this batch: its own earlier upload, or an unused name.

        Two batches whose first commits fall in the same millisecond would share a
        name; the second gets a ``-1`` suffix. A re-delivered batch finds its own
        object (same first LSN) and overwrites it with the same rows.
        """
        for suffix in range(1000):
            key = cdc_key(self.cfg, tb.schema, tb.table, tb.first_commit, suffix)
            try:
                stat = self.s3.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                    return key
                raise
            meta = {k.lower(): v for k, v in (stat.metadata or {}).items()}
            if meta.get("x-amz-meta-dms-first-lsn") == first_lsn:
                return key
        raise DmsSourceError(f"dms: more than 1000 CDC objects for {tb.table} in one millisecond")
