"""Silver as it stood at a moment: what ``sandbox run gold --as-of T`` aggregates.

A scheduled Airflow run passes its data interval's end (``--as-of {{ data_interval_end
}}``), so the marts of the run for a past day are built from the facts that had
happened by the end of that day, whenever the run executes: a backfill of three past
days gives three different golds, and clearing last Tuesday's run rebuilds Tuesday's.

The cut, table by table (silver keeps each entity's current state, not its history, so
what changes in place is today's value):

* ``fct_match``: matches started before ``T``; one that ended at or after ``T`` was
  still running (no end, duration or winner). ``fct_match_player``: players of those
  matches; ``won`` is unknown for one still running.
* ``player_events``: events before ``T``. ``fct_payment``: payments made before ``T``.
* ``fct_subscription``: subscriptions started before ``T``; one cancelled at or after
  ``T`` was still active then.
* ``dim_player``: players who had signed up before ``T``, with today's tier, MMR, ban
  and subscription (not their values at ``T``).

Ingest, bronze and silver always bring everything up to now: CDC and Firehose cannot go
back in time, and the cut is applied where the marts read silver. So a past day's gold is
rebuilt from today's rows: a payment refunded since counts as refunded, a row deleted at
the source is gone from every cut. And there is one gold: a backfill or a cleared past
run republishes it (and the warehouse) at that day's cut; the next plain or scheduled run
brings it back to now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sandbox.platform import SandboxError

if TYPE_CHECKING:  # PySpark is imported when a cut is made: `sandbox run --as-of` parses without it
    from pyspark.sql import Column, DataFrame


def parse_as_of(text: str | None) -> datetime | None:
    """An ISO 8601 instant (naive means UTC); empty or ``None`` means no cut."""
    if text is None or text.strip() in ("", "None"):
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(
            f"--as-of {text!r}: expected an ISO 8601 time such as 2026-01-01T00:00:00+00:00"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def instant(as_of: datetime) -> Column:
    """``as_of`` as a timestamp literal. From microseconds since the epoch: ``F.lit`` of a
    datetime asks the session which timestamp type it prefers, and an instant is an
    instant whatever the session's time zone."""
    from pyspark.sql import functions as F

    micros = round(as_of.astimezone(UTC).timestamp() * 1_000_000)
    return F.timestamp_micros(F.lit(micros))


def silver_as_of(silver: dict[str, DataFrame], as_of: datetime) -> dict[str, DataFrame]:
    """The silver frames gold reads, cut at ``as_of`` (see the module's table)."""
    from pyspark.sql import functions as F

    t = instant(as_of)
    out = dict(silver)
    match = silver["fct_match"].where(F.col("started_at") < t)
    running = F.col("ended_at") >= t
    out["fct_match"] = match.select(
        *[
            F.when(running, F.lit(None).cast(match.schema[c].dataType)).otherwise(F.col(c)).alias(c)
            if c in ("ended_at", "duration_s", "winning_team")
            else F.col(c)
            for c in match.columns
        ]
    )
    still_running = match.where(running).select("match_id", F.lit(True).alias("_running"))
    players = silver["fct_match_player"].join(match.select("match_id"), "match_id", "left_semi")
    out["fct_match_player"] = (
        players.join(still_running, "match_id", "left")
        .withColumn("won", F.when(F.col("_running"), F.lit(None)).otherwise(F.col("won")))
        .drop("_running")
        .select(*silver["fct_match_player"].columns)
    )
    out["player_events"] = silver["player_events"].where(F.col("event_time") < t)
    out["fct_payment"] = silver["fct_payment"].where(F.col("paid_at") < t)
    subs = silver["fct_subscription"].where(F.col("started_at") < t)
    later = F.col("cancelled_at") >= t
    out["fct_subscription"] = subs.withColumn(
        "status", F.when(later, F.lit("active")).otherwise(F.col("status"))
    ).withColumn("cancelled_at", F.when(later, F.lit(None)).otherwise(F.col("cancelled_at")))
    out["dim_player"] = silver["dim_player"].where(F.col("created_at") < t)
    return out
