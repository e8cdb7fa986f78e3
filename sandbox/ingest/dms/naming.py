"""Object names and header values exactly as the AWS DMS S3 target writes them.

<BucketFolder>/<schema>/<table>/LOAD00000001.parquet            full load
<BucketFolder>/[<CdcPath>/]<schema>/<table>/[yyyy/mm/dd/]<yyyymmdd-hhmmssfff>.parquet
"""

from __future__ import annotations

from datetime import UTC, datetime

from sandbox.platform import DmsSettings


def table_prefixes(cfg: DmsSettings, schema: str, table: str) -> list[str]:
    """The folders a table's objects are in: its own, and its CdcPath one if set."""
    prefixes = [f"{cfg.bucket_folder}/{schema}/{table}/"]
    if cfg.cdc_path:
        prefixes.append(f"{cfg.bucket_folder}/{cfg.cdc_path.strip('/')}/{schema}/{table}/")
    return prefixes


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
