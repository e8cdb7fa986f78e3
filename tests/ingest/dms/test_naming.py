"""Object names of the DMS S3 target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sandbox.ingest.dms.naming import cdc_key, change_seq, dms_timestamp, load_key
from sandbox.platform.settings import DmsSettings


def test_load_files_count_in_hex() -> None:
    cfg = DmsSettings()
    names = [load_key(cfg, "public", "players", i).rsplit("/", 1)[1] for i in (1, 9, 10, 16, 17)]
    assert names == [
        "LOAD00000001.parquet",
        "LOAD00000009.parquet",
        "LOAD0000000A.parquet",
        "LOAD00000010.parquet",
        "LOAD00000011.parquet",
    ]
    assert load_key(cfg, "public", "players", 1) == "dms/public/players/LOAD00000001.parquet"


def test_cdc_names_use_utc_commit_time_to_the_millisecond() -> None:
    cfg = DmsSettings()
    t = datetime(2026, 1, 2, 0, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-3)))
    assert cdc_key(cfg, "public", "players", t) == "dms/public/players/20260102-030405678.parquet"
    assert cdc_key(cfg, "public", "players", t, 1).endswith("20260102-030405678-1.parquet")


def test_cdc_path_and_date_partitions() -> None:
    cfg = DmsSettings(cdc_path="changes", date_partition_enabled=True)
    t = datetime(2026, 11, 5, 23, 59, 59, 1000, tzinfo=UTC)
    assert (
        cdc_key(cfg, "public", "matches", t)
        == "dms/changes/public/matches/2026/11/05/20261105-235959001.parquet"
    )


def test_change_seq_sorts_like_commit_order() -> None:
    seqs = [change_seq(0x1_0000_0000, 2), change_seq(99, 10), change_seq(99, 9)]
    assert sorted(seqs) == [change_seq(99, 9), change_seq(99, 10), change_seq(0x1_0000_0000, 2)]
    assert len(seqs[0]) == 35


def test_timestamp_column_text() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert dms_timestamp(t) == "2026-01-02 03:04:05.000006"
