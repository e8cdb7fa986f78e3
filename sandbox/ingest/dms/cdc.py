"""CDC: decoded ``pgoutput`` changes grouped per table and written as timestamped files."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from sandbox.ingest.dms import pgoutput
from sandbox.ingest.dms.errors import DmsSourceError
from sandbox.ingest.dms.naming import cdc_key, change_seq, dms_timestamp
from sandbox.ingest.dms.source import SourceTable
from sandbox.ingest.dms.target import RawTarget, TableFile
from sandbox.ingest.dms.types import ColumnType, to_arrow
from sandbox.platform import DmsSettings

log = logging.getLogger(__name__)


@dataclass
class TableBatch:
    """The CDC rows of one table within one batch, in commit order, in one shape.

    One object is written per table batch. A batch holds the table's changes while
    its columns keep their types and the table its name: a column's type change or a
    rename of the table mid-batch starts a new one, so no file mixes two types in one
    column and every row lands under the name the table had when it was changed.
    """

    schema: str
    table: str
    relation_id: int  # the table's oid: it survives a rename, and outlives a drop here
    columns: list[pgoutput.Column]
    first_commit: datetime
    first_lsn: int
    ops: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    seqs: list[str] = field(default_factory=list)
    # values as text; pgoutput.UNCHANGED where an update left a TOASTed value out
    rows: list[dict[str, object]] = field(default_factory=list)
    key: tuple[str, ...] = ()  # the replica identity columns, from the relation message
    last_lsn: int = 0  # commit LSN of the batch's last change: with first_lsn, its range
    # each shape (relation message) the table had within the batch, in order
    shapes: list[pgoutput.Relation] = field(default_factory=list)

    def takes(self, rel: pgoutput.Relation) -> bool:
        """Whether a change made in shape ``rel`` belongs in this batch's object."""
        if (rel.schema, rel.table) != (self.schema, self.table):
            return False
        typed = {c.name: (c.type_oid, c.type_modifier) for c in self.columns}
        return all(
            typed.get(c.name, (c.type_oid, c.type_modifier)) == (c.type_oid, c.type_modifier)
            for c in rel.columns
        )


@dataclass
class Collected:
    tables: list[TableBatch]  # in the order each was begun
    changes: int
    commit_times: list[datetime]


def kept_ops(cfg: DmsSettings) -> set[str]:
    """The operations written: CdcInsertsOnly / CdcInsertsAndUpdates restrict them."""
    if cfg.cdc_inserts_only:
        return {"I"}
    if cfg.cdc_inserts_and_updates:
        return {"I", "U"}
    return {"I", "U", "D"}


def collect(
    messages: list[bytes], *, cfg: DmsSettings, on_relation: Callable[[pgoutput.Relation], None]
) -> Collected:
    """Group the changes of committed transactions per table, in commit order.

    Each change is read with the relation (columns) in force when it was made, taken
    from the replication stream, never from today's catalog: a table dropped or renamed
    since, or a column whose type changed, is read as it was.
    """
    relations: dict[int, pgoutput.Relation] = {}
    current: dict[int, TableBatch] = {}  # relation id -> the batch its changes go to
    tables: list[TableBatch] = []
    pending: list[tuple[pgoutput.Change, pgoutput.Relation]] = []
    keep = kept_ops(cfg)
    changes = 0
    commit_times: list[datetime] = []
    for data in messages:
        msg = pgoutput.decode(data)
        if isinstance(msg, pgoutput.Change):
            pending.append((msg, relations[msg.relation_id]))
        elif isinstance(msg, pgoutput.Commit):
            ts = dms_timestamp(msg.commit_time)
            for index, (ch, rel) in enumerate(pending):
                if ch.op not in keep:
                    continue
                tb = current.get(ch.relation_id)
                if tb is None or not tb.takes(rel):
                    tb = TableBatch(
                        rel.schema,
                        rel.table,
                        rel.relation_id,
                        list(rel.columns),
                        msg.commit_time,
                        msg.commit_lsn,
                    )
                    current[ch.relation_id] = tb
                    tables.append(tb)
                if not tb.shapes or tb.shapes[-1].columns != rel.columns:
                    tb.shapes.append(rel)
                known = {c.name for c in tb.columns}
                tb.columns += [c for c in rel.columns if c.name not in known]
                tb.key = tuple(c.name for c in rel.columns if c.is_key)
                tb.ops.append(ch.op)
                tb.times.append(ts)
                # index + 1: the full load holds index 0 of the consistent point, so a
                # change committed exactly there still sorts after it
                tb.seqs.append(change_seq(msg.commit_lsn, index + 1))
                tb.rows.append(_row(ch, rel))
                tb.last_lsn = msg.commit_lsn
            changes += len(pending)
            pending = []
            commit_times.append(msg.commit_time)
        elif isinstance(msg, pgoutput.Relation):
            on_relation(msg)
            relations[msg.relation_id] = msg
        elif isinstance(msg, pgoutput.Truncate):
            log.warning(
                "dms: TRUNCATE of relations %s is not replicated (as in AWS DMS)", msg.relation_ids
            )
    return Collected(tables, changes, commit_times)


def _row(ch: pgoutput.Change, rel: pgoutput.Relation) -> dict[str, object]:
    values = ch.new if ch.new is not None else ch.old
    row = dict(zip((c.name for c in rel.columns), values or (), strict=False))
    if ch.op == "U" and ch.old is not None:
        # REPLICA IDENTITY FULL sends the whole old row: an unchanged TOAST value is there
        for col, old in zip(rel.columns, ch.old, strict=False):
            if row.get(col.name) is pgoutput.UNCHANGED and old is not pgoutput.UNCHANGED:
                row[col.name] = old
    return row


def fill_from_source(
    conn: psycopg.Connection,
    tb: TableBatch,
    *,
    generated: list[str],
    now: SourceTable | None,
    lookup_size: int = 5000,
) -> None:
    """Fill what pgoutput leaves out, by key from the source table, as DMS's LOB lookup does.

    An update that leaves a TOASTed value unchanged does not carry it, and stored
    generated columns are not published before Postgres 18. Both are read from the
    source by key. The value read may be newer than the change; a later change to the
    row is replicated too, so the replica converges on the source.

    ``now`` is the table as the catalog has it now, found by its oid (None if it was
    dropped): the lookup uses its current name and only the columns it still has. A
    value that cannot be read (no key, the table or the column gone since) is written
    as NULL with a warning naming it; it never stops the task.
    """
    wanted = set(generated)
    for row, op in zip(tb.rows, tb.ops, strict=True):
        if op != "D":
            wanted |= {c for c, v in row.items() if v is pgoutput.UNCHANGED}
    if not wanted:
        return
    need = [i for i, op in enumerate(tb.ops) if op != "D"]
    have = set() if now is None else {c.name for c in now.columns}
    keyed = bool(tb.key) and all(k in have for k in tb.key)
    columns = sorted(c for c in wanted if keyed and c in have)
    if need and len(columns) < len(wanted):
        lost = sorted(wanted - set(columns))
        why = (
            "it has no key"
            if not tb.key
            else "the table is gone since"
            if now is None
            else "its key or these columns are renamed or dropped since"
        )
        log.warning(
            "dms: %s.%s: %s cannot be read from the source (%s); written as NULL",
            tb.schema,
            tb.table,
            ", ".join(lost),
            why,
        )
    if not columns or not need:
        for row in tb.rows:
            for c in wanted:
                if row.get(c) is pgoutput.UNCHANGED:
                    row[c] = None
        return
    assert now is not None  # columns are only readable from a table that exists
    found: dict[tuple, tuple] = {}
    keys = sorted({tuple(tb.rows[i].get(k) for k in tb.key) for i in need}, key=str)
    for start in range(0, len(keys), lookup_size):
        chunk = keys[start : start + lookup_size]
        query = sql.SQL(
            "select {keys}, {cols} from {t} s join unnest({arrays}) as u({names}) on {on}"
        ).format(
            keys=sql.SQL(", ").join(
                sql.SQL("s.{}::text").format(sql.Identifier(k)) for k in tb.key
            ),
            cols=sql.SQL(", ").join(
                sql.SQL("s.{}::text").format(sql.Identifier(c)) for c in columns
            ),
            t=sql.Identifier(now.schema, now.name),
            arrays=sql.SQL(", ").join(
                sql.SQL("{}::text[]").format(sql.Placeholder()) for _ in tb.key
            ),
            names=sql.SQL(", ").join(sql.Identifier(f"k{i}") for i in range(len(tb.key))),
            on=sql.SQL(" and ").join(
                sql.SQL("s.{}::text = u.{}").format(sql.Identifier(k), sql.Identifier(f"k{i}"))
                for i, k in enumerate(tb.key)
            ),
        )
        params = [[k[i] for k in chunk] for i in range(len(tb.key))]
        for r in conn.execute(query, params).fetchall():
            found[tuple(r[: len(tb.key)])] = r[len(tb.key) :]
    for i in need:
        row = tb.rows[i]
        values = found.get(tuple(row.get(k) for k in tb.key))
        for j, c in enumerate(columns):
            if c in generated or row.get(c) is pgoutput.UNCHANGED:
                # a row deleted since has no value to read; its delete follows
                row[c] = None if values is None else values[j]
    for row in tb.rows:
        for c in wanted:
            if row.get(c) is pgoutput.UNCHANGED:
                row[c] = None


def write_cdc_file(
    tb: TableBatch, types: list[ColumnType], *, cfg: DmsSettings, target: RawTarget
) -> TableFile:
    """One Parquet object for ``tb``: ``Op`` first, then the header columns, then data."""
    columns: dict[str, pa.Array] = {"Op": pa.array(tb.ops, pa.string())}
    if cfg.timestamp_column_name:
        columns[cfg.timestamp_column_name] = pa.array(tb.times, pa.string())
    if cfg.change_seq_column_name:
        columns[cfg.change_seq_column_name] = pa.array(tb.seqs, pa.string())
    for ct in types:
        columns[ct.name] = to_arrow(
            [r.get(ct.name) for r in tb.rows], ct.arrow, where=f"{tb.schema}.{tb.table}.{ct.name}"
        )
    data = pa.table(columns)
    sink = io.BytesIO()
    pq.write_table(data, sink)
    key, uploaded = free_cdc_key(tb, cfg=cfg, target=target)
    if not uploaded:
        target.put(key, sink.getvalue(), metadata=range_metadata(tb))
    return TableFile(key, data.num_rows)


def range_metadata(tb: TableBatch) -> dict[str, str]:
    """What identifies an object's content: the changes it holds, first and last.

    Each change's sequence value (commit LSN and place in its transaction) is unique,
    so two objects with the same first and last change hold the same changes.
    """
    return {
        "dms-first-lsn": pgoutput.int_to_lsn(tb.first_lsn),
        "dms-changes": f"{tb.seqs[0]}-{tb.seqs[-1]}",
    }


def free_cdc_key(tb: TableBatch, *, cfg: DmsSettings, target: RawTarget) -> tuple[str, bool]:
    """The object name for this batch, and whether it is already uploaded.

    Two batches whose first commits fall in the same millisecond would share a
    name; the second gets a ``-1`` suffix. A re-delivered batch finds its own object
    (the same range of changes, first to last) and keeps it as first written: values
    looked up from the source may have moved on since, and the object bronze may
    already have read must not change under it. An object that starts where this
    batch starts but holds another range is another batch: this one gets the next
    suffix, so a change is at worst delivered twice, never dropped.
    """
    wanted = range_metadata(tb)["dms-changes"]
    for suffix in range(1000):
        key = cdc_key(cfg, tb.schema, tb.table, tb.first_commit, suffix)
        meta = target.metadata(key)
        if meta is None:
            return key, False
        if meta.get("x-amz-meta-dms-changes") == wanted:
            return key, True
    raise DmsSourceError(f"dms: more than 1000 CDC objects for {tb.table} in one millisecond")
