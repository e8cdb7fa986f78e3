"""Raw DMS files as bronze reads them: found, ordered, and brought to one shape.

This is the edge of the bronze CDC job: it lists a table's raw objects, reads them
with pyarrow, and normalises them into one Arrow table that Spark then MERGEs. The
normalising is a pure function (``normalize``), tested on small tables.

What it makes exact for every AWS-legal DMS endpoint setting:

* ``IncludeOpForFullLoad=false`` (the AWS default): full-load rows carry no ``Op``;
  they are inserts.
* No change-sequence column (most real tasks): changes are ordered as production
  bronze jobs order them, by file (LOAD files by counter, then CDC files by the commit
  time in their name, ``-N`` suffixes in order) and by row within a file. With the
  column, it decides, and file and row order break ties.
* Schema changes: columns added later are null in older rows; renames recorded by the
  DMS task are applied to older files; a widened type (int -> bigint) is cast; a
  dropped column is dropped. The columns and types are those of the table mapping.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from minio import Minio

from sandbox.ingest.dms import TableMapping, table_prefixes
from sandbox.platform import DmsSettings

# Ordering columns added to every raw row; bronze drops them before writing.
SEQ, FILE_ORD, ROW_ORD = "_dms_seq", "_dms_file", "_dms_row"
ORDER = [SEQ, FILE_ORD, ROW_ORD]

_LOAD = re.compile(r"^LOAD([0-9A-F]{8})\.parquet$")
_CDC = re.compile(r"^(\d{8}-\d{9})(?:-(\d+))?\.parquet$")


def is_load_file(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith("LOAD")


def dms_order(key: str) -> tuple:
    """Sort key of a raw object in commit order: LOAD files by counter, then CDC by name."""
    name = key.rsplit("/", 1)[-1]
    if m := _LOAD.match(name):
        return (0, int(m.group(1), 16), "", 0)
    if m := _CDC.match(name):
        return (1, 0, m.group(1), int(m.group(2) or 0))
    return (2, 0, name, 0)  # not a name DMS writes: last, by name


def raw_tables(s3: Minio, bucket: str, cfg: DmsSettings) -> list[tuple[str, str]]:
    """Every ``(schema, table)`` that has a folder in the raw bucket, sorted."""
    roots = [f"{cfg.bucket_folder}/"]
    if cfg.cdc_path:
        roots.append(f"{cfg.bucket_folder}/{cfg.cdc_path.strip('/')}/")
    cdc_root = roots[1] if len(roots) > 1 else None
    found = set()
    for root in roots:
        for schema_obj in s3.list_objects(bucket, prefix=root):
            if not schema_obj.is_dir or schema_obj.object_name == cdc_root:
                continue
            schema = schema_obj.object_name[len(root) :].strip("/")
            for table_obj in s3.list_objects(bucket, prefix=schema_obj.object_name):
                if table_obj.is_dir:
                    found.add((schema, table_obj.object_name.rstrip("/").rsplit("/", 1)[-1]))
    return sorted(found)


def raw_objects(s3: Minio, bucket: str, cfg: DmsSettings, schema: str, table: str) -> dict:
    """Every raw Parquet object of a table with its etag, in commit order."""
    found = {
        o.object_name: o.etag
        for p in table_prefixes(cfg, schema, table)
        for o in s3.list_objects(bucket, prefix=p, recursive=True)
        if o.object_name.endswith(".parquet")
    }
    return {k: found[k] for k in sorted(found, key=dms_order)}


def normalize(files: list[pa.Table], *, cfg: DmsSettings, mapping: TableMapping) -> pa.Table:
    """Raw files (in commit order) -> one table: ``Op``, the mapping's columns, ordering.

    Columns: ``Op`` (``I`` where the file has none), the mapping's columns in its types,
    then ``_dms_seq`` (the change-sequence value, or empty), ``_dms_file`` (position of
    the file) and ``_dms_row`` (position in the file).
    """
    types = mapping.arrow_types()
    out = []
    for index, raw in enumerate(files):
        n = raw.num_rows
        op = raw.column("Op") if "Op" in raw.column_names else pa.nulls(n, pa.string())
        op = pc.fill_null(op.cast(pa.string()), "I")
        data = _renamed(raw, mapping.renames)
        columns = {"Op": op}
        for name, typ in types.items():
            if name in data.column_names:
                columns[name] = data.column(name).cast(typ)
            else:
                columns[name] = pa.nulls(n, typ)  # added after this file was written
        seq_col = cfg.change_seq_column_name
        if seq_col and seq_col in raw.column_names:
            columns[SEQ] = pc.fill_null(raw.column(seq_col).cast(pa.string()), "")
        else:
            columns[SEQ] = pa.array([""] * n, pa.string())
        columns[FILE_ORD] = pa.array([index] * n, pa.int64())
        columns[ROW_ORD] = pa.array(range(n), pa.int64())
        out.append(pa.table(columns))
    if not out:
        return pa.table(
            {
                "Op": pa.array([], pa.string()),
                **{c: pa.array([], t) for c, t in types.items()},
                SEQ: pa.array([], pa.string()),
                FILE_ORD: pa.array([], pa.int64()),
                ROW_ORD: pa.array([], pa.int64()),
            }
        )
    return pa.concat_tables(out)


def _renamed(raw: pa.Table, renames: list[tuple[str, str]]) -> pa.Table:
    """Apply the recorded renames, oldest first, to a file written before some of them."""
    for old, new in renames:
        if old not in raw.column_names:
            continue
        if new in raw.column_names:
            # a batch across the rename holds both: rows before it have the old name
            merged = pc.coalesce(raw.column(new), raw.column(old).cast(raw.schema.field(new).type))
            raw = raw.set_column(raw.column_names.index(new), new, merged)
            raw = raw.drop_columns([old])
        else:
            raw = raw.rename_columns([new if c == old else c for c in raw.column_names])
    return raw


def latest_rows(changes: pa.Table, keys: list[str]) -> pa.Table:
    """The last change per key in commit order, as ``normalize`` ordered the rows:
    the highest ``_dms_seq``, then file, then row (what ``bronze.latest_changes`` does
    with a window over a DataFrame, done here before Spark sees the rows).

    Keys are compared as values, nulls included (two null keys are the same key, as
    the ``MERGE``'s ``<=>`` has it). In Arrow because Sail sorts every row for the
    window: for the 1.7M rows of ``match_players`` at scale 16, the window took 4.1 s
    more than the plain write, this takes 0.5 to 0.9 s (docs/benchmarks.md). Raises
    ``pyarrow.ArrowNotImplementedError`` for a key type Arrow cannot group by.
    """
    if changes.num_rows == 0 or not keys:
        return changes
    ranked = changes
    if pc.any(pc.not_equal(changes.column(SEQ), "")).as_py():  # sequence values decide first
        ranked = changes.take(pc.sort_indices(changes, [(c, "ascending") for c in ORDER]))
    # else ``normalize`` already has the rows in file, then row order
    position = "_dms_position"
    index = pa.table(
        {
            **{k: ranked.column(k) for k in keys},
            position: pa.array(np.arange(ranked.num_rows, dtype=np.int64)),
        }
    )
    last = index.group_by(keys).aggregate([(position, "max")])
    if last.num_rows == ranked.num_rows:
        return ranked  # every key once (a full load): nothing to drop
    picked = last.column(f"{position}_max").combine_chunks()
    return ranked.take(picked.take(pc.sort_indices(picked)))  # in commit order
