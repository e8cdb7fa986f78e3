"""The task's control state, kept in the source database beside the slot.

``sandbox_dms.task_state`` records, per slot:

* ``full_load_done`` and the snapshot's ``consistent_lsn``;
* ``pending_start`` / ``pending_end``: the LSN range of the CDC batch being written,
  recorded before its first upload. A crash before the batch is acknowledged leaves it
  behind, so the next run re-reads exactly that range and finds the same objects;
* ``written_upto``: the end of the last batch whose objects are all in S3. This is the
  task's acknowledgement, and it is what makes a crash of the *source* safe: a
  committed row is durable, while ``pg_replication_slot_advance`` is written to disk
  only at the next checkpoint ("the LSN position advanced to may still be lost on a
  crash", PostgreSQL's ``slotfuncs.c``). After a crash the slot may be behind
  ``written_upto``; the task then moves it forward again before reading on.

The schema is created and upgraded in place (``ensure``): a home made by an older
version gains the new column with no value, which means "trust the slot".
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from sandbox.ingest.dms.errors import RELOAD_HINT, DmsBusyError, DmsSlotLostError
from sandbox.platform import Progress, Settings, quiet

CONTROL_SCHEMA = "sandbox_dms"
STATE_FIELDS = ("full_load_done", "consistent_lsn", "pending_start", "pending_end", "written_upto")


class TaskState:
    """Read and write one slot's row of ``sandbox_dms.task_state``."""

    def __init__(self, slot_name: str) -> None:
        self.slot_name = slot_name

    def ensure(self, conn: psycopg.Connection) -> None:
        conn.execute(
            sql.SQL(
                "create schema if not exists {s};"
                "create table if not exists {s}.task_state ("
                " slot_name text primary key, full_load_done boolean not null default false,"
                " consistent_lsn text, pending_start text, pending_end text,"
                " updated_at timestamptz not null default now());"
                "alter table {s}.task_state add column if not exists written_upto text"
            ).format(s=sql.Identifier(CONTROL_SCHEMA))
        )

    def get(self, conn: psycopg.Connection) -> dict | None:
        row = conn.execute(
            sql.SQL("select {cols} from {t} where slot_name = %s").format(
                cols=sql.SQL(", ").join(map(sql.Identifier, STATE_FIELDS)),
                t=sql.Identifier(CONTROL_SCHEMA, "task_state"),
            ),
            (self.slot_name,),
        ).fetchone()
        return None if row is None else dict(zip(STATE_FIELDS, row, strict=True))

    def set(self, conn: psycopg.Connection, **values: object) -> None:
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
            (self.slot_name, *values.values()),
        )


# The advisory-lock space of DMS tasks ("dms" in ASCII); the slot name picks the lock.
LOCK_SPACE = 0x646D73


class WriterLock:
    """One writer per task: a session-level advisory lock on the source database.

    ``sandbox ingest dms`` holds it for its whole run, ``--follow`` for each batch,
    so a run started beside a follower (Airflow's ``ingest_dms`` task) writes between
    two of its batches, never inside one. Postgres drops the lock with the holder's
    connection, so a killed writer never leaves it behind.
    """

    def __init__(self, slot_name: str) -> None:
        self.slot_name = slot_name
        self.key = zlib.crc32(slot_name.encode()) & 0x7FFFFFFF

    def holder(self, conn: psycopg.Connection) -> str:
        """Who holds the lock: the holder's application name and backend pid."""
        row = conn.execute(
            "select a.application_name, a.pid from pg_locks l "
            "join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.classid = %s "
            "and l.objid = %s and l.objsubid = 2 and l.database = "
            "(select oid from pg_database where datname = current_database())",
            (LOCK_SPACE, self.key),
        ).fetchone()
        if row is None:
            return "another writer"
        name, pid = row
        return f"{name or 'another client'} (backend pid {pid})"

    def _try_lock(self, conn: psycopg.Connection) -> bool:
        row = conn.execute("select pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, self.key)).fetchone()
        if row is None:
            raise RuntimeError("pg_try_advisory_lock returned no row")
        return row[0]

    @contextmanager
    def hold(
        self,
        conn: psycopg.Connection,
        *,
        wait_s: float | None,
        progress: Progress = quiet,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[bool]:
        """Hold the lock for the block; yields False if ``should_stop`` ended the wait.

        Waits at most ``wait_s`` seconds (None: until the lock is free), saying once
        who it waits for, then raises :class:`DmsBusyError` naming the holder.
        """
        started = time.monotonic()
        said = False
        while not self._try_lock(conn):
            holder = self.holder(conn)
            if wait_s is not None and time.monotonic() - started >= wait_s:
                raise DmsBusyError(
                    f"dms: task {self.slot_name} is being written by {holder}; one writer "
                    f"per task: waited {wait_s:.0f}s (SANDBOX_DMS__WRITER_WAIT_S), try again "
                    "when it is done"
                )
            if not said:
                progress(f"dms: waiting for {holder}: one writer per task")
                said = True
            if should_stop is not None and should_stop():
                yield False
                return
            time.sleep(0.1)
        try:
            yield True
        finally:
            if not conn.broken and not conn.closed:
                # a lost connection took the lock with it: nothing to release then
                with contextlib.suppress(psycopg.OperationalError):
                    conn.execute("select pg_advisory_unlock(%s, %s)", (LOCK_SPACE, self.key))


@dataclass(frozen=True)
class SlotStatus:
    """The task's replication slot as Postgres reports it."""

    name: str
    exists: bool
    wal_status: str | None = None  # reserved, extended, unreserved, lost (invalidated)
    retained_bytes: int = 0  # WAL the slot holds back from removal
    safe_wal_bytes: int | None = None  # WAL that may still be written before it is lost
    confirmed_flush_lsn: str | None = None
    keep_size: str | None = None  # the server's max_slot_wal_keep_size, as it shows it

    def describe(self) -> str:
        if not self.exists:
            return f"slot {self.name}: none (no full load yet, or dropped)"
        if self.wal_status == "lost":
            return f"slot {self.name}: invalidated (it held back more WAL than allowed)"
        text = f"slot {self.name}: holds {_size(self.retained_bytes)} of WAL ({self.wal_status})"
        if self.safe_wal_bytes is not None:
            text += f", invalidated after {_size(self.safe_wal_bytes)} more"
        return text


def slot_status(conn: psycopg.Connection, slot_name: str) -> SlotStatus:
    """How much WAL ``slot_name`` retains and whether Postgres invalidated it."""
    row = conn.execute(
        "select s.wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, "
        "s.safe_wal_size, s.confirmed_flush_lsn::text, k.keep, s.slot_name is not null "
        "from (select current_setting('max_slot_wal_keep_size') keep) k "
        "left join pg_replication_slots s on s.slot_name = %s",
        (slot_name,),
    ).fetchone()
    if row is None:  # the left join keeps the setting's row
        raise RuntimeError(f"no row from the status query of slot {slot_name}")
    wal_status, retained, safe, confirmed, keep, exists = row
    if not exists:
        return SlotStatus(slot_name, exists=False, keep_size=keep)
    return SlotStatus(
        slot_name,
        True,
        wal_status,
        int(retained or 0),
        None if safe is None else int(safe),
        confirmed,
        keep,
    )


def live_slot(conn: psycopg.Connection, slot_name: str) -> SlotStatus:
    """The slot ``slot_name``; raises :class:`DmsSlotLostError` if it is gone or invalidated."""
    status = slot_status(conn, slot_name)
    if not status.exists:
        raise DmsSlotLostError(
            f"dms: replication slot {slot_name} is gone (dropped, or the source "
            f"was restored or failed over), so the changes since the last batch cannot "
            f"be read: {RELOAD_HINT}"
        )
    if status.wal_status == "lost":
        raise DmsSlotLostError(
            f"dms: replication slot {slot_name} was invalidated: it held back "
            f"more WAL than max_slot_wal_keep_size ({status.keep_size}) and Postgres "
            f"removed changes "
            f"it had not read: {RELOAD_HINT}"
        )
    return status


def flushed_lsn(conn: psycopg.Connection) -> str:
    """The end of the WAL on disk: every transaction committed before it is decodable."""
    row = conn.execute("select pg_current_wal_flush_lsn()::text").fetchone()
    if row is None:
        raise RuntimeError("pg_current_wal_flush_lsn() returned no row")
    (lsn,) = row
    return lsn


def probe_slot(settings: Settings) -> SlotStatus | None:
    """The DMS slot of ``settings``' source, or None when Postgres does not answer."""
    try:
        with psycopg.connect(settings.postgres_url(settings.app_db), connect_timeout=2) as conn:
            return slot_status(conn, settings.dms.slot_name)
    except psycopg.OperationalError:
        return None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
