"""Table mappings: what the DMS task recorded about each table it lands.

Production bronze jobs carry a config naming each table's keys; here the DMS task
writes it beside the data, one JSON object per table:

    s3://<raw>/_dms_table_mappings/<BucketFolder>/<schema>/<table>.json

with the primary key (from ``pg_index``), the replica identity, the columns of the
newest data written (name and Parquet type, in order), and the renames seen in CDC.
Bronze reads it to know how to MERGE a table and which columns it has now.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field

import pyarrow as pa
from minio import Minio
from minio.error import S3Error

from sandbox.ingest.dms.target import MISSING

PREFIX = "_dms_table_mappings"


@dataclass
class TableMapping:
    """A source table as the DMS task last saw it: keys, replica identity, columns
    (newest order, Arrow types), renames in the order they happened, generated columns.
    Bronze reads it to apply raw files whatever their age."""

    schema: str
    table: str
    primary_key: list[str]
    replica_identity: str  # d default, n nothing, f full, i index
    columns: list[tuple[str, str]]  # (name, Arrow type as text), the newest data's order
    partitioned: bool = False
    # (old name, new name) in the order they happened; bronze renames older data
    renames: list[tuple[str, str]] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)  # stored generated columns

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def arrow_types(self) -> dict[str, pa.DataType]:
        return {c: arrow_type(t) for c, t in self.columns}

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, body: bytes) -> TableMapping:
        doc = json.loads(body)
        doc["columns"] = [tuple(c) for c in doc["columns"]]
        doc["renames"] = [tuple(r) for r in doc.get("renames", [])]
        return cls(**doc)


def mapping_key(bucket_folder: str, schema: str, table: str) -> str:
    return f"{PREFIX}/{bucket_folder}/{schema}/{table}.json"


def read_mapping(
    s3: Minio, bucket: str, bucket_folder: str, schema: str, table: str
) -> TableMapping | None:
    """The recorded mapping of ``schema.table``, or None if the task recorded none."""
    try:
        body = s3.get_object(bucket, mapping_key(bucket_folder, schema, table))
    except S3Error as exc:
        if exc.code in MISSING:
            return None
        raise
    try:
        return TableMapping.from_json(body.read())
    finally:
        body.close()
        body.release_conn()


def write_mapping(s3: Minio, bucket: str, bucket_folder: str, mapping: TableMapping) -> None:
    body = mapping.to_json()
    s3.put_object(
        bucket,
        mapping_key(bucket_folder, mapping.schema, mapping.table),
        io.BytesIO(body),
        len(body),
        content_type="application/json",
    )


_TYPES: dict[str, pa.DataType] = {
    str(t): t
    for t in (
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.float32(),
        pa.float64(),
        pa.string(),
        pa.bool_(),
        pa.binary(),
        pa.date32(),
        pa.timestamp("us"),
        pa.timestamp("us", tz="UTC"),
    )
}


def arrow_type(text: str) -> pa.DataType:
    """The Arrow type written as ``str(type)`` (the types the DMS task writes)."""
    if text in _TYPES:
        return _TYPES[text]
    if text.startswith("decimal128("):
        precision, scale = text[len("decimal128(") : -1].split(",")
        return pa.decimal128(int(precision), int(scale))
    raise ValueError(f"dms: unknown column type {text!r} in a table mapping")


def renamed(
    previous: list[tuple[str, str]],
    current: list[tuple[str, str]],
    *,
    generated: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    """Renames between two column lists of one table (same place, same type, new name).

    pgoutput's relation message has no attribute numbers, so a rename is told from a
    drop and an add by shape: the lists have the same length and type at each place,
    and a name that vanished sits where a name that is new appears.
    """
    # generated columns are placed by the task, not by pgoutput: compare the others
    previous = [c for c in previous if c[0] not in generated]
    current = [c for c in current if c[0] not in generated]
    if len(previous) != len(current):
        return []
    old_names = {c for c, _ in previous}
    new_names = {c for c, _ in current}
    out = []
    for (old, old_type), (new, new_type) in zip(previous, current, strict=True):
        if old != new:
            if old_type != new_type or old in new_names or new in old_names:
                return []
            out.append((old, new))
    return out


class MappingStore:
    """The task's mappings, cached: written only when a table's mapping changes."""

    def __init__(self, s3: Minio, bucket: str, bucket_folder: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.bucket_folder = bucket_folder
        self._cache: dict[tuple[str, str], TableMapping | None] = {}

    def get(self, schema: str, table: str) -> TableMapping | None:
        if (schema, table) not in self._cache:
            self._cache[schema, table] = read_mapping(
                self.s3, self.bucket, self.bucket_folder, schema, table
            )
        return self._cache[schema, table]

    def put(self, mapping: TableMapping) -> None:
        if self.get(mapping.schema, mapping.table) != mapping:
            write_mapping(self.s3, self.bucket, self.bucket_folder, mapping)
            self._cache[mapping.schema, mapping.table] = mapping

    def observe(
        self,
        schema: str,
        table: str,
        *,
        columns: list[tuple[str, str]],
        primary_key: list[str],
        replica_identity: str,
        partitioned: bool,
        generated: list[str],
        fresh: bool = False,
    ) -> None:
        """Record the columns of the newest data; a rename since the last record is kept.

        ``fresh`` (a full load) starts the table's history again.
        """
        previous = None if fresh else self.get(schema, table)
        renames = [] if previous is None else list(previous.renames)
        if previous is not None:
            renames += renamed(previous.columns, columns, generated=frozenset(generated))
        self.put(
            TableMapping(
                schema,
                table,
                primary_key,
                replica_identity,
                columns,
                partitioned,
                renames,
                generated,
            )
        )
