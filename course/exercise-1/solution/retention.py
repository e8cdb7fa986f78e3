"""Gold mart ``retention_by_cohort``: of the players who signed up in a month, how many
played a match N months later.

The transform is a function of silver DataFrames; ``run_retention`` is the task around
it, with the I/O at the edges (paths from ``sandbox.jobs.layers``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sandbox.jobs.layers import gold_path, silver_path
from sandbox.orchestrate.pipeline import Context, Task

MART = "retention_by_cohort"
RATE = "decimal(6,4)"


def _month_number(col: str):
    # Whole months since year 0: a difference of two is a month count, with no day rounding.
    return F.year(col) * 12 + F.month(col)


def retention_by_cohort(
    dim_player: DataFrame, fct_match_player: DataFrame, fct_match: DataFrame
) -> DataFrame:
    """One row per signup cohort (month) and month since signup with any active player.

    A player is active in a month if they played a match in it. Month 0 is the signup
    month; a month with no active player in the cohort has no row.
    """
    cohort = dim_player.select("player_id", F.trunc("signup_date", "month").alias("cohort_month"))
    sizes = cohort.groupBy("cohort_month").agg(F.count(F.lit(1)).alias("cohort_players"))
    played = (
        fct_match_player.join(fct_match.select("match_id", "match_date"), "match_id")
        .select("player_id", F.trunc("match_date", "month").alias("activity_month"))
        .distinct()
    )
    active = (
        played.join(cohort, "player_id")
        .withColumn(
            "months_since_signup",
            (_month_number("activity_month") - _month_number("cohort_month")).cast("int"),
        )
        .where(F.col("months_since_signup") >= 0)
        .groupBy("cohort_month", "months_since_signup")
        .agg(F.countDistinct("player_id").alias("active_players"))
    )
    return (
        active.join(sizes, "cohort_month")
        .select(
            "cohort_month",
            "months_since_signup",
            "cohort_players",
            "active_players",
            (F.col("active_players") / F.col("cohort_players")).cast(RATE).alias("retention_rate"),
        )
        .orderBy("cohort_month", "months_since_signup")
    )


def run_retention(ctx: Context) -> dict[str, int]:
    """Read silver, build the mart, overwrite it in gold; returns its row count."""
    spark, settings = ctx.spark, ctx.settings

    def silver(domain: str, table: str) -> DataFrame:
        return spark.read.format("delta").load(silver_path(settings, domain, table))

    mart = retention_by_cohort(
        silver("core", "dim_player"),
        silver("core", "fct_match_player"),
        silver("core", "fct_match"),
    )
    path = gold_path(settings, MART)
    mart.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    rows = spark.read.format("delta").load(path).count()
    ctx.progress(f"gold {MART}: {rows} rows")
    return {MART: rows}


# The pipeline task: add it to TASKS in sandbox/orchestrate/pipeline.py to run it with
# `sandbox run`, from Airflow and from the lake_pipeline state machine.
TASK = Task(MART, ("silver",), run_retention, "silver -> gold retention by signup cohort")
