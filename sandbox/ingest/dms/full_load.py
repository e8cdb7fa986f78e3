"""Full load: every row of a table, read in the slot's exported snapshot, as LOAD files.

Each table is copied out by ``psql`` (the Postgres wheel's), which imports the
snapshot the replication slot exported: the copy runs in C, where reading
``COPY ... TO STDOUT`` through a Python driver costs a Python call per row (2.5 s of
the 6 s full load of scale 16). Tables load side by side, as DMS does up to
``MaxFullLoadSubTasks``, and never more at once than the machine has cores.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import conninfo, sql

from sandbox.ingest.dms.errors import DmsSourceError
from sandbox.ingest.dms.naming import dms_timestamp, load_key, table_prefixes
from sandbox.ingest.dms.source import SourceTable
from sandbox.ingest.dms.target import RawTarget, TableFile
from sandbox.ingest.dms.types import ColumnType, to_arrow
from sandbox.platform import DmsSettings, Settings
from sandbox.platform.services.postgres import postgres_bin_dir

ROW_GROUP_ROWS = 50_000


def copy_out(settings: Settings, snapshot: str | None, table: SourceTable) -> bytes:
    """``table``'s rows as Postgres writes them in CSV, read in the exported ``snapshot``
    (``None``: as they are now, the ``full_load_overlap`` mode).

    The session's time zone, date style and encoding are set here, not inherited from
    the environment (``PGTZ``, ``PGDATESTYLE``, ``PGOPTIONS``, ``~/.psqlrc``), so the
    text is the one CDC's converters expect.
    """
    query = sql.SQL("copy (select {cols} from {t}) to stdout (format csv)").format(
        cols=sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
        t=sql.Identifier(table.schema, table.name),
    )
    script = (
        "set timezone = 'UTC';\n"
        "set datestyle = 'ISO, YMD';\n"
        "begin isolation level repeatable read;\n"
        + (f"set transaction snapshot {sql.Literal(snapshot).as_string()};\n" if snapshot else "")
        + f"{query.as_string()};\n"
        "commit;\n"
    )
    params = conninfo.conninfo_to_dict(settings.postgres_url(settings.app_db))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if params.get("password"):
        env["PGPASSWORD"] = str(params.pop("password"))  # not in argv, where ps shows it
    env["PGCLIENTENCODING"] = "UTF8"
    psql = postgres_bin_dir(settings.postgres_version) / "psql"
    argv = [
        str(psql),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conninfo.make_conninfo("", **params),
        "-f",
        "-",
    ]
    try:
        done = subprocess.run(
            argv, input=script.encode(), env=env, capture_output=True, check=False
        )
    except OSError as exc:
        raise DmsSourceError(f"dms: cannot run {psql} for the full load: {exc}") from exc
    if done.returncode != 0:
        raise DmsSourceError(
            f"dms: full load of {table.schema}.{table.name} failed: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


def load_table(
    csv: bytes,
    table: SourceTable,
    types: list[ColumnType],
    *,
    cfg: DmsSettings,
    target: RawTarget,
    transfer_time: datetime,
    seq: str,
) -> list[TableFile]:
    """Write ``table``'s LOAD files from its rows in CSV (``copy_out``'s).

    A partitioned table is read through its root, so every partition's rows land in
    the root's folder, as CDC does with ``publish_via_partition_root``.
    """
    if not csv:
        return []  # DMS creates no folder for an empty table
    names = [c.name for c in table.columns]
    text = pacsv.read_csv(
        io.BytesIO(csv),
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
        columns.append(("Op", pa.repeat(pa.scalar("I"), n)))
    if cfg.timestamp_column_name:
        columns.append(
            (cfg.timestamp_column_name, pa.repeat(pa.scalar(dms_timestamp(transfer_time)), n))
        )
    if cfg.change_seq_column_name:
        columns.append((cfg.change_seq_column_name, pa.repeat(pa.scalar(seq), n)))
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


def load_tables(
    settings: Settings,
    snapshot: str,
    tables: list[SourceTable],
    types: dict[str, list[ColumnType]],
    *,
    target: RawTarget,
    transfer_time: datetime,
    seq: str,
    on_loaded: Callable[[SourceTable, list[TableFile]], None],
) -> dict[str, list[TableFile]]:
    """Load ``tables`` from ``snapshot`` side by side, in the order given; ``on_loaded``
    is called as each one is done. The first failure cancels the tables not started."""
    cfg = settings.dms

    def load(table: SourceTable) -> list[TableFile]:
        # TargetTablePrepMode DROP_AND_CREATE (the DMS default): a new full load
        # replaces the table's folder, old CDC files included, so a rebuild never
        # replays changes from before this snapshot.
        for prefix in table_prefixes(cfg, table.schema, table.name):
            target.remove_prefix(prefix)
        csv = copy_out(settings, None if cfg.full_load_overlap else snapshot, table)
        return load_table(
            csv,
            table,
            types[table.name],
            cfg=cfg,
            target=target,
            transfer_time=transfer_time,
            seq=seq,
        )

    workers = max(1, min(cfg.max_full_load_subtasks, os.cpu_count() or 1))
    loaded: dict[str, list[TableFile]] = {}
    with ThreadPoolExecutor(workers, thread_name_prefix="dms-full-load") as pool:
        running = {pool.submit(load, t): t for t in tables}
        for future in as_completed(running):
            table = running[future]
            try:
                loaded[table.name] = future.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the task failed: load no more
                raise
            on_loaded(table, loaded[table.name])
    return loaded


def biggest_first(
    conn: psycopg.Connection, schema: str, tables: list[SourceTable]
) -> list[SourceTable]:
    """``tables``, the largest on disk first (a partitioned table by its partitions), so
    that parallel loads end together rather than on the largest alone."""
    sizes: dict[str, int] = dict(
        conn.execute(
            "select t.name, coalesce(sum(pg_total_relation_size(p.relid)), 0) "
            "from unnest(%s::text[]) t(name), "
            "pg_partition_tree(format('%%I.%%I', %s::text, t.name)::regclass) p "
            "group by t.name",
            ([t.name for t in tables], schema),
        ).fetchall()
    )
    return sorted(tables, key=lambda t: -sizes.get(t.name, 0))
