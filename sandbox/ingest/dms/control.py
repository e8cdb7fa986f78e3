"""The task's control state, kept in the source database beside the slot.

``sandbox_dms.task_state`` records, per slot, whether the full load is done and the
LSN range of a CDC batch being written. A crash between upload and slot advance
leaves that range behind, so the next run re-reads exactly it and rewrites the same
objects: nothing lost, nothing doubled.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

CONTROL_SCHEMA = "sandbox_dms"
STATE_FIELDS = ("full_load_done", "consistent_lsn", "pending_start", "pending_end")


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
                " updated_at timestamptz not null default now())"
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
