"""Rebuild a source table from its raw DMS files, in plain Python.

This is the reference answer the bronze job must agree with: take the full load,
apply every CDC row in commit order (the change-sequence column, not file order),
the last operation per primary key winning, deletes removing the row.
"""

from __future__ import annotations

import pyarrow as pa
from minio import Minio

from sandbox.ingest.dms.naming import table_prefixes
from sandbox.platform import DmsSettings


def raw_table_objects(
    s3: Minio, bucket: str, cfg: DmsSettings, schema: str, table: str
) -> dict[str, str]:
    """Every raw object of a table with its etag: LOAD files first (by counter), then CDC."""
    found = {
        o.object_name: o.etag
        for p in table_prefixes(cfg, schema, table)
        for o in s3.list_objects(bucket, prefix=p, recursive=True)
        if o.object_name.endswith(".parquet")
    }
    keys = sorted(found)
    loads = [k for k in keys if is_load_file(k)]
    return {k: found[k] for k in loads + [k for k in keys if not is_load_file(k)]}


def is_load_file(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith("LOAD")


def raw_table_files(s3: Minio, bucket: str, cfg: DmsSettings, schema: str, table: str) -> list[str]:
    """Every raw object of a table: LOAD files first (by counter), then CDC files."""
    return list(raw_table_objects(s3, bucket, cfg, schema, table))


def replay(files: list[pa.Table], key: list[str], cfg: DmsSettings) -> dict[tuple, dict]:
    """Apply raw rows in change-sequence order; returns ``{primary key: row}``."""
    meta = {"Op", cfg.timestamp_column_name, cfg.change_seq_column_name}
    rows: list[dict] = []
    for t in files:
        rows += t.to_pylist()
    seq = cfg.change_seq_column_name
    if seq is None:
        raise ValueError("replay needs the change sequence column (change_seq_column_name)")
    rows.sort(key=lambda r: r[seq])  # stable: keeps in-file order for equal keys
    # Columns added mid-stream are null in rows written before they existed.
    columns = list(dict.fromkeys(c for t in files for c in t.column_names if c not in meta))
    state: dict[tuple, dict] = {}
    for r in rows:
        k = tuple(r[c] for c in key)
        if r.get("Op", "I") == "D":
            state.pop(k, None)
        else:
            state[k] = {c: r.get(c) for c in columns}
    return state
