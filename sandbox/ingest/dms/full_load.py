"""Full load: every row of a table, read in the slot's exported snapshot, as LOAD files."""

from __future__ import annotations

import io
from datetime import datetime

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql

from sandbox.ingest.dms.naming import dms_timestamp, load_key
from sandbox.ingest.dms.source import SourceCatalog, SourceTable
from sandbox.ingest.dms.target import RawTarget, TableFile
from sandbox.ingest.dms.types import to_arrow
from sandbox.platform.settings import DmsSettings

ROW_GROUP_ROWS = 50_000


def load_table(
    conn: psycopg.Connection,
    table: SourceTable,
    *,
    cfg: DmsSettings,
    catalog: SourceCatalog,
    target: RawTarget,
    transfer_time: datetime,
    seq: str,
) -> list[TableFile]:
    """Copy ``table`` out of the snapshot ``conn`` is in, and write its LOAD files.

    A partitioned table is read through its root, so every partition's rows land in
    the root's folder, as CDC does with ``publish_via_partition_root``.
    """
    attrs = [(c.name, c.type_oid, c.type_modifier) for c in table.columns]
    types = catalog.column_types(table.name, attrs)
    buf = io.BytesIO()
    query = sql.SQL("copy (select {cols} from {t}) to stdout (format csv)").format(
        cols=sql.SQL(", ").join(sql.Identifier(a[0]) for a in attrs),
        t=sql.Identifier(table.schema, table.name),
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
    if cfg.include_op_for_full_load:
        columns.append(("Op", pa.array(["I"] * n, pa.string())))
    if cfg.timestamp_column_name:
        columns.append((cfg.timestamp_column_name,
                        pa.array([dms_timestamp(transfer_time)] * n, pa.string())))  # fmt: skip
    if cfg.change_seq_column_name:
        columns.append((cfg.change_seq_column_name, pa.array([seq] * n, pa.string())))
    for ct in types:
        where = f"{table.schema}.{table.name}.{ct.name}"
        columns.append(
            (ct.name, to_arrow(text.column(ct.name).combine_chunks(), ct.arrow, where=where))
        )
    data = pa.table(dict(columns))
    return write_load_files(data, table.name, cfg=cfg, target=target)


def write_load_files(
    data: pa.Table, table: str, *, cfg: DmsSettings, target: RawTarget
) -> list[TableFile]:
    """Split ``data`` into LOAD files of about ``max_file_size_kb`` each.

    Files grow a row group at a time; row groups are sized from a probe so that a
    file overshoots the limit by at most a quarter.
    """
    limit = cfg.max_file_size_kb * 1024
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
        key = load_key(cfg, cfg.source_schema, table, len(files) + 1)
        target.put(key, sink.getvalue())
        files.append(TableFile(key, rows))
    return files
