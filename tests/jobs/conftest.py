"""A Spark Connect session on an in-process Sail server, for transforms on small frames."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.platform.settings import PROJECT_ROOT


@pytest.fixture(scope="session")
def spark() -> Iterator:
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    session = SparkSession.builder.remote(f"sc://{host}:{port}").create()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    yield session
    session.stop()
    server.stop()


SAMPLES = PROJECT_ROOT / "data_samples"


@pytest.fixture(scope="session")
def sample_bronze(spark) -> dict:
    """Bronze-shaped frames built from the committed sample (app tables + events)."""
    import pyarrow.parquet as pq

    from sandbox.jobs.bronze_events import dedupe_events, unwrap_events
    from sandbox.jobs.layers import SOURCE_KEYS

    frames = {
        t: spark.createDataFrame(pq.read_table(SAMPLES / "app" / f"{t}.parquet"))
        for t in SOURCE_KEYS
    }
    lines = [
        (line,)
        for f in sorted((SAMPLES / "events").glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line
    ]
    frames["events"] = dedupe_events(unwrap_events(spark.createDataFrame(lines, "value string")))
    return frames
