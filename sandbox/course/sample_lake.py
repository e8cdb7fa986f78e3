"""The committed sample (``data_samples/``) as bronze and silver DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform import PROJECT_ROOT

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SAMPLES = PROJECT_ROOT / "data_samples"


def sample_bronze(spark: SparkSession) -> dict[str, DataFrame]:
    """Bronze-shaped frames of the sample: the app tables (as a full load leaves them)
    and the events, unwrapped and deduplicated by the platform's own functions."""
    import pyarrow.parquet as pq

    from sandbox.jobs import SOURCE_KEYS, dedupe_events, unwrap_events

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


def sample_silver(spark: SparkSession) -> dict[str, DataFrame]:
    """Every silver table built by the platform's own jobs from the sample, lazily."""
    from sandbox.jobs.silver import SILVER_TABLES, build_silver

    frames, _ = build_silver(sample_bronze(spark))
    return {t.name: frames[t.name] for t in SILVER_TABLES}
