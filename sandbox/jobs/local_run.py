"""The medallion jobs over local Parquet, on any Spark Connect engine.

Used to compare engines on the same data and the same job code: Sail (in-process)
against local JVM Spark (``pyspark`` local mode, needs Java 17; its wheel has no Delta
or S3 jars, hence local Parquet). Input is a folder laid out like ``data_samples/``:
``app/<table>.parquet`` and ``events/<stream>.jsonl``.

    python -m sandbox.jobs.local_run --engine sail --input data_samples --output /tmp/out

prints one JSON object: seconds per layer and the rows of every gold mart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal, cast

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sandbox.jobs import quality as q
from sandbox.jobs.bronze import latest_changes
from sandbox.jobs.bronze_events import dedupe_events, unwrap_events
from sandbox.jobs.gold import build_gold
from sandbox.jobs.layers import SOURCE_KEYS
from sandbox.jobs.publish import while_writing
from sandbox.jobs.silver import (
    SILVER_TABLES,
    STAGE_THREADS,
    Staged,
    build_silver,
    split_schemas,
)
from sandbox.platform import in_process_sail

Engine = Literal["sail", "jvm"]


def jsonable(value):
    """A Spark row value as JSON can hold it: decimals as text, dates as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@contextlib.contextmanager
def session(engine: Engine) -> Iterator[SparkSession]:
    """A session on ``engine`` ('sail' or 'jvm'), stopped on exit (with its server)."""
    if engine == "sail":
        with in_process_sail() as spark:
            yield spark
        return
    if engine == "jvm":
        from sandbox.platform import free_port_block

        # A free port rather than Spark Connect's 15002, which the compose profile's
        # Spark (or a second parity run) may hold.
        (port,) = free_port_block(1)
        # The JVM session serves Spark Connect on that port (pyspark's own
        # remote("local") would always dial 15002), bound to loopback only.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # A classic session first: a parent that used Spark Connect may have left its mode
        # in our environment.
        for name in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE"):
            os.environ.pop(name, None)
        (
            SparkSession.builder.master("local[2]")
            .config("spark.api.mode", "classic")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
            .config("spark.connect.grpc.binding.address", "127.0.0.1")
            .config("spark.connect.grpc.binding.port", str(port))
            .getOrCreate()
        )
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"  # functions build Connect columns
        # pyspark types its Connect session apart from the classic one it stands in for
        spark = cast(SparkSession, ConnectSession.builder.remote(f"sc://127.0.0.1:{port}").create())
    else:
        raise ValueError(f"unknown engine {engine!r}: sail or jvm")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        yield spark
    finally:
        spark.stop()


def _materialize(spark: SparkSession, df: DataFrame, path: Path) -> DataFrame:
    df.write.mode("overwrite").parquet(str(path))
    # With the schema: an empty frame may leave no file to take it from.
    return spark.read.schema(df.schema).parquet(str(path))


def run(spark: SparkSession, input_dir: Path, output_dir: Path) -> dict:
    """bronze -> silver -> gold over local files; returns timings and gold rows."""
    timings = {}
    t0 = time.perf_counter()
    bronze = {}
    for table, keys in SOURCE_KEYS.items():
        raw = spark.read.parquet(str(input_dir / "app" / f"{table}.parquet"))
        # Bronze's transform on full-load-shaped input: every row an insert.
        changes = raw.withColumn("Op", F.lit("I")).withColumn("_seq", F.lit("0"))
        latest = latest_changes(changes, keys, "_seq").where("Op <> 'D'").drop("Op", "_seq")
        bronze[table] = _materialize(spark, latest, output_dir / "bronze" / table)
    lines = spark.read.text([str(p) for p in sorted((input_dir / "events").glob("*.jsonl"))])
    bronze["events"] = _materialize(
        spark, dedupe_events(unwrap_events(lines)), output_dir / "bronze" / "events"
    )
    timings["bronze"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    silver_dir = output_dir / "silver"

    def stage_one(item):
        # The split written once, as the lake job writes it; its parts become the
        # table's and the quarantine's folders (their files keep the split's columns).
        table, result = item
        split = output_dir / "split" / table.name
        passed_schema, quarantine_schema = while_writing(
            lambda: result.split.write.mode("overwrite").partitionBy(q.SPLIT).parquet(str(split)),
            lambda: split_schemas(result),
        )
        parts = []
        for part, folder, schema in (
            (q.PASSED_PART, silver_dir, passed_schema),
            (q.QUARANTINED_PART, output_dir / "quarantine", quarantine_schema),
        ):
            target = folder / table.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            source = split / f"{q.SPLIT}={part}"
            source.rename(target) if source.exists() else target.mkdir()
            parts.append(spark.read.schema(schema).parquet(str(target)))
        return Staged(*parts)

    def stage(wave):
        # A wave's tables side by side, as the lake job writes them.
        with ThreadPoolExecutor(STAGE_THREADS) as pool:
            return list(pool.map(stage_one, wave))

    silver, _ = build_silver(bronze, stage=stage)
    timings["silver"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    gold = {}
    for name, df in build_gold({t.name: silver[t.name] for t in SILVER_TABLES}).items():
        written = _materialize(spark, df, output_dir / "gold" / name)
        gold[name] = sorted(
            ([{k: jsonable(v) for k, v in r.asDict().items()} for r in written.collect()]),
            key=lambda r: json.dumps(r, sort_keys=True),
        )
    timings["gold"] = time.perf_counter() - t0
    timings["total"] = sum(timings.values())
    return {"timings": timings, "gold": gold}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sail", "jvm"], required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    with session(args.engine) as spark:
        out = args.output or Path(tempfile.mkdtemp(prefix=f"sandbox-{args.engine}-"))
        result = run(spark, args.input.resolve(), out.resolve())
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
