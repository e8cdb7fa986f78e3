"""Bronze on the real stack: replica of the source, idempotent, schema evolution, events."""

from __future__ import annotations

import pickle
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from deltalake import DeltaTable

from sandbox.app.simulator import Simulator
from sandbox.ingest.dms.task import DmsTask
from sandbox.ingest.events.sns import delivery_streams, publisher
from sandbox.ingest.events.traffic import run_events
from sandbox.jobs import bronze
from sandbox.jobs.layers import SOURCE_KEYS, Manifest, bronze_events_path, bronze_path
from sandbox.platform.session import spark_session
from sandbox.platform.settings import Settings
from tests.oracle import source_rows

pytestmark = pytest.mark.slow


def bronze_rows(spark, settings: Settings, table: str) -> dict:
    rows = spark.read.format("delta").load(bronze_path(settings, "public", table)).collect()
    return {tuple(r[k] for k in SOURCE_KEYS[table]): _utc(r.asDict()) for r in rows}


def _utc(row: dict) -> dict:
    # Spark hands timestamps back naive, in the session time zone (UTC).
    return {
        k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
        for k, v in row.items()
    }


def version(settings: Settings, path: str) -> int:
    return DeltaTable(path, storage_options=settings.s3_storage_options()).version()


def test_bronze_equals_source_after_random_workloads(source: Settings) -> None:
    spark = spark_session(source)
    task = DmsTask(source)
    rng = random.Random(8)
    for round_ in range(3):
        with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
            if round_:
                Simulator(conn, seed=rng.randrange(100)).run(changes=rng.randint(100, 800))
        task.run()
        bronze.run_bronze(spark, source)
        for table in SOURCE_KEYS:
            assert bronze_rows(spark, source, table) == source_rows(source, table), table


def test_rerun_with_nothing_new_changes_nothing(source: Settings) -> None:
    spark = spark_session(source)
    DmsTask(source).run()
    bronze.run_bronze(spark, source)
    versions = {t: version(source, bronze_path(source, "public", t)) for t in SOURCE_KEYS}
    again = bronze.run_bronze(spark, source)
    assert all(r.files == 0 for r in again)
    assert {t: version(source, bronze_path(source, "public", t)) for t in SOURCE_KEYS} == versions


def test_crash_between_merge_and_manifest_doubles_nothing(
    source: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark = spark_session(source)
    task = DmsTask(source)
    task.run()
    bronze.run_bronze(spark, source)
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        Simulator(conn, seed=3).run(changes=500)
    task.run()

    def crash(self, processed):
        raise KeyboardInterrupt("killed after the MERGE, before the manifest")

    monkeypatch.setattr(Manifest, "record", crash)
    with pytest.raises(KeyboardInterrupt):
        bronze.bronze_cdc_table(spark, source, "match_players")
    monkeypatch.undo()
    result = bronze.bronze_cdc_table(spark, source, "match_players")
    assert result.files == 1  # the same CDC file, applied again
    assert bronze_rows(spark, source, "match_players") == source_rows(source, "match_players")


KILLED_RUN = """
import os, pickle, signal, sys
from sandbox.jobs import bronze
from sandbox.jobs.layers import Manifest
from sandbox.platform.session import spark_session

settings = pickle.loads(open(sys.argv[1], "rb").read())
Manifest.record = lambda self, processed: os.kill(os.getpid(), signal.SIGKILL)
bronze.bronze_cdc_table(spark_session(settings), settings, "audit_log")
"""


@pytest.mark.matrix  # 13 s; CI runs it after the default run
def test_crash_between_a_keyless_append_and_its_manifest_appends_nothing_twice(
    source: Settings, tmp_path: Path
) -> None:
    """A table without a key is appended to: the rerun finds the batch's commit
    (its userMetadata) and writes only the manifest (hardening, #30)."""
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        conn.execute("create table audit_log (at timestamptz default now(), note text)")
        conn.execute(
            "insert into audit_log (note) select 'first ' || g from generate_series(1, 5) g"
        )
    spark = spark_session(source)
    task = DmsTask(source)
    task.run()
    bronze.bronze_cdc_table(spark, source, "audit_log")
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        conn.execute(
            "insert into audit_log (note) select 'later ' || g from generate_series(1, 7) g"
        )
    task.run()
    # the run is a process of its own, SIGKILLed by itself right after the append:
    # no finally, no atexit, nothing of Python's unwinding runs
    pickled = tmp_path / "settings.pickle"
    pickled.write_bytes(pickle.dumps(source))
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(pickled)], timeout=300)
    assert killed.returncode == -signal.SIGKILL
    path = bronze_path(source, "public", "audit_log")
    appended = DeltaTable(path, storage_options=source.s3_storage_options()).version()
    result = bronze.bronze_cdc_table(spark, source, "audit_log")
    assert result.files == 1  # the same CDC file, seen again: its rows are not
    assert DeltaTable(path, storage_options=source.s3_storage_options()).version() == appended
    notes = sorted(r["note"] for r in spark.read.format("delta").load(path).collect())
    assert notes == sorted(
        [f"first {i}" for i in range(1, 6)] + [f"later {i}" for i in range(1, 8)]
    )
    # the manifest now holds the batch: a third run reads nothing
    assert bronze.bronze_cdc_table(spark, source, "audit_log").files == 0


def test_new_source_column_evolves_the_bronze_schema(source: Settings) -> None:
    spark = spark_session(source)
    task = DmsTask(source)
    task.run()
    bronze.run_bronze(spark, source)
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        conn.execute("alter table players add column favourite_map text")
        conn.execute("update players set favourite_map = 'Skyport' where player_id = 5")
    task.run()
    bronze.bronze_cdc_table(spark, source, "players")
    path = bronze_path(source, "public", "players")
    rows = bronze_rows(spark, source, "players")
    assert rows[(5,)]["favourite_map"] == "Skyport"
    assert rows == source_rows(source, "players")
    history = DeltaTable(path, storage_options=source.s3_storage_options()).history()
    ops = [h["operation"] for h in reversed(history)]
    assert ops[-2:] == ["WRITE", "MERGE"]  # the schema change, then the changes
    schema_fields = DeltaTable(path, storage_options=source.s3_storage_options()).schema().fields
    assert "favourite_map" in [f.name for f in schema_fields]


def test_events_are_appended_once_per_event_id(source: Settings) -> None:
    spark = spark_session(source)
    pub = publisher(source)
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        sent = run_events(conn, pub.publish_many, count=600, seed=2)
    pub.close()
    streams = delivery_streams(source)
    for s in streams.values():
        s.flush(force=True)
    bronze.run_bronze(spark, source)
    paths = [bronze_events_path(source, s) for s in streams]
    count = sum(spark.read.format("delta").load(p).count() for p in paths)
    assert count == sent
    # the same events delivered again (a producer retry) add nothing
    again = publisher(source)
    for p in paths:
        rows = spark.read.format("delta").load(p).select("payload").limit(50).collect()
        again.publish_many([__import__("json").loads(r.payload) for r in rows])
    again.close()
    for s in streams.values():
        s.flush(force=True)
    bronze.run_bronze(spark, source)
    assert sum(spark.read.format("delta").load(p).count() for p in paths) == sent
    dates = spark.read.format("delta").load(paths[0]).select("event_date").distinct().count()
    assert dates >= 1


def test_raw_too_large_to_send_inline_goes_through_the_lake(
    source: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sail takes no chunked upload and gRPC caps a message at 128 MiB: a large raw
    # table is spilled to s3://<lake>/_tmp/bronze/, read from there, then removed.
    from sandbox.platform.services.s3 import s3_client

    monkeypatch.setattr(bronze, "INLINE_BYTES", 0)  # every table takes that path
    spark = spark_session(source)
    with psycopg.connect(source.postgres_url(), autocommit=True) as conn:
        Simulator(conn, seed=5).run(changes=200)
    DmsTask(source).run()
    bronze.run_bronze(spark, source)
    for table in SOURCE_KEYS:
        assert bronze_rows(spark, source, table) == source_rows(source, table), table
    s3 = s3_client(source)
    left = list(s3.list_objects(source.lake_bucket, bronze.SPILL_PREFIX, recursive=True))
    assert left == []


# -- one writer per version (issue #30, item 3) ----------------------------------------
# Delta's protocol needs "mutual exclusion: only one writer must be able to create a file
# at the final destination" (https://docs.delta.io/latest/delta-storage.html). S3 gives it
# with a conditional write, If-None-Match: * answered 412 PreconditionFailed when the key
# exists (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html);
# the lake's options ask for it instead of delta-rs's unsafe-rename flag.


def test_the_store_refuses_a_second_create_of_one_key(running_stack) -> None:
    import boto3
    from botocore.exceptions import ClientError

    s = running_stack.settings
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in s.s3_storage_options()
    client = boto3.client(
        "s3",
        endpoint_url=s.s3_endpoint,
        aws_access_key_id=s.s3_access_key,
        aws_secret_access_key=s.s3_secret_key.get_secret_value(),
        region_name=s.s3_region,
    )
    key = "_conditional/00000000000000000001.json"
    client.put_object(Bucket=s.lake_bucket, Key=key, Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=s.lake_bucket, Key=key, Body=b"second", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket=s.lake_bucket, Key=key)["Body"].read() == b"first"


def test_a_writer_on_a_stale_version_commits_after_the_other_not_over_it(running_stack) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    s = running_stack.settings
    opts, uri = s.s3_storage_options(), s.lake_uri("_conditional_table")
    write_deltalake(uri, pa.table({"writer": ["setup"]}), storage_options=opts)
    stale = DeltaTable(uri, storage_options=opts)  # both writers start from version 0
    write_deltalake(uri, pa.table({"writer": ["a"]}), storage_options=opts, mode="append")
    write_deltalake(stale, pa.table({"writer": ["b"]}), mode="append")  # wants version 1 too
    table = DeltaTable(uri, storage_options=opts)
    assert table.version() == 2
    assert sorted(table.to_pyarrow_table().column("writer").to_pylist()) == ["a", "b", "setup"]
