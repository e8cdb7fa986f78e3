"""Gold: aggregated marts, ready for BI. Each declares its grain and its columns.

``GOLD_TABLES`` is the one place a mart is described; the warehouse load turns the
descriptions into table and column comments, so BI tools show them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from sandbox.jobs import publish
from sandbox.jobs.as_of import silver_as_of
from sandbox.jobs.fingerprint import (
    Inputs,
    KnownStates,
    code_digest,
    digest,
    record_matches,
    shared_digest,
    table_states,
)
from sandbox.jobs.layers import BRL, gold_path, read_delta, silver_path
from sandbox.jobs.silver import SILVER_TABLES, SilverPublishPending, pending_publishes
from sandbox.platform import Progress, Settings

RATE = "decimal(6,4)"


def _month(col: str):
    return F.trunc(F.col(col), "month")


def daily_active_players(events: DataFrame, match_players: DataFrame, matches: DataFrame):
    logins = events.where(F.col("event_type") == "player_login").select(
        F.col("event_date").alias("activity_date"), "player_id", F.lit(1).alias("is_login")
    )
    played = match_players.join(matches.select("match_id", "match_date"), "match_id").select(
        F.col("match_date").alias("activity_date"), "player_id", F.lit(0).alias("is_login")
    )
    both = logins.unionByName(played)
    return (
        both.groupBy("activity_date")
        .agg(
            F.countDistinct("player_id").alias("active_players"),
            F.sum("is_login").cast("bigint").alias("logins"),
        )
        .orderBy("activity_date")
    )


def matches_per_map_daily(matches: DataFrame) -> DataFrame:
    return (
        matches.groupBy("match_date", "map_name")
        .agg(
            F.count(F.lit(1)).alias("matches"),
            F.avg("duration_s").cast("decimal(10,1)").alias("avg_duration_s"),
        )
        .orderBy("match_date", "map_name")
    )


def win_rate_by_tier(match_players: DataFrame, players: DataFrame) -> DataFrame:
    mp = match_players.join(players.select("player_id", "skill_tier"), "player_id")
    return (
        mp.groupBy("skill_tier")
        .agg(
            F.countDistinct("player_id").alias("players"),
            F.count(F.lit(1)).alias("games"),
            F.sum(F.col("won").cast("int")).cast("bigint").alias("wins"),
        )
        .withColumn("win_rate", (F.col("wins") / F.col("games")).cast(RATE))
        .orderBy("skill_tier")
    )


def revenue_by_plan_monthly(payments: DataFrame, subscriptions: DataFrame) -> DataFrame:
    p = payments.join(subscriptions.select("subscription_id", "plan_id"), "subscription_id", "left")
    paid = F.col("payment_status") == "paid"
    refunded = F.col("payment_status") == "refunded"
    return (
        p.groupBy(
            _month("paid_at").alias("month"), F.coalesce("plan_id", F.lit("none")).alias("plan_id")
        )
        .agg(
            F.sum(F.when(paid, 1).otherwise(0)).cast("bigint").alias("payments"),
            F.sum(F.when(paid, F.col("amount_brl")).otherwise(0)).cast(BRL).alias("revenue_brl"),
            F.sum(F.when(refunded, F.col("amount_brl")).otherwise(0))
            .cast(BRL)
            .alias("refunds_brl"),
        )
        .orderBy("month", "plan_id")
    )


def _months(subscriptions: DataFrame) -> DataFrame:
    """Every month from the first subscription to the last event of any subscription."""
    bounds = subscriptions.agg(
        F.min(_month("started_at")).alias("lo"),
        F.max(
            F.greatest(
                _month("started_at"), F.coalesce(_month("cancelled_at"), _month("started_at"))
            )
        ).alias("hi"),
    )
    return bounds.select(
        F.explode(F.sequence("lo", "hi", F.expr("interval 1 month"))).alias("month")
    )


def mrr_by_plan_monthly(subscriptions: DataFrame) -> DataFrame:
    """Monthly recurring revenue: subscriptions active at the end of each month."""
    months = _months(subscriptions)
    month_end = F.last_day("month")
    active = (F.to_date("started_at") <= month_end) & (
        F.col("cancelled_at").isNull() | (F.to_date("cancelled_at") > month_end)
    )
    return (
        months.crossJoin(subscriptions)
        .where(active)
        .groupBy("month", "plan_id")
        .agg(
            F.count(F.lit(1)).alias("active_subscriptions"),
            F.sum("monthly_value_brl").cast(BRL).alias("mrr_brl"),
        )
        .orderBy("month", "plan_id")
    )


def subscription_churn_monthly(subscriptions: DataFrame) -> DataFrame:
    """Of the subscriptions active when a month starts, how many are cancelled in it."""
    months = _months(subscriptions)
    at_start = (F.to_date("started_at") < F.col("month")) & (
        F.col("cancelled_at").isNull() | (F.to_date("cancelled_at") >= F.col("month"))
    )
    churned = F.col("cancelled_at").isNotNull() & (_month("cancelled_at") == F.col("month"))
    return (
        months.crossJoin(subscriptions)
        .where(at_start)
        .groupBy("month")
        .agg(
            F.count(F.lit(1)).alias("active_at_start"),
            F.sum(F.when(churned, 1).otherwise(0)).cast("bigint").alias("churned"),
        )
        .withColumn("churn_rate", (F.col("churned") / F.col("active_at_start")).cast(RATE))
        .orderBy("month")
    )


def leaderboard(players: DataFrame, match_players: DataFrame, *, top: int = 100) -> DataFrame:
    stats = match_players.groupBy("player_id").agg(
        F.count(F.lit(1)).alias("games"),
        F.sum(F.col("won").cast("int")).cast("bigint").alias("wins"),
    )
    ranked = (
        players.where(~F.col("is_banned"))
        .join(stats, "player_id")
        .withColumn("win_rate", (F.col("wins") / F.col("games")).cast(RATE))
    )
    order = [F.col("mmr").desc(), F.col("wins").desc(), F.col("player_id")]
    # The top N first, then ranked in one small partition (not a window over everyone)
    w = Window.partitionBy(F.lit(0)).orderBy(*order)
    return (
        ranked.orderBy(*order)
        .limit(top)
        .withColumn("rank", F.row_number().over(w))
        .select("rank", "player_id", "nickname", "skill_tier", "mmr", "games", "wins", "win_rate")
        .orderBy("rank")
    )


def login_funnel_daily(events: DataFrame) -> DataFrame:
    """Per day: players who logged in, and of those, who created a lobby, started, finished."""

    def step(event_type: str, name: str) -> DataFrame:
        return (
            events.where(F.col("event_type") == event_type)
            .select("event_date", "player_id")
            .distinct()
            .withColumn(name, F.lit(1))
        )

    base = step("player_login", "logged_in")
    for event_type, name in [
        ("lobby_created", "created_lobby"),
        ("match_started", "started_match"),
        ("match_finished", "finished_match"),
    ]:
        base = base.join(step(event_type, name), ["event_date", "player_id"], "left")
    return (
        base.groupBy("event_date")
        .agg(
            F.count(F.lit(1)).alias("logged_in"),
            F.count("created_lobby").alias("created_lobby"),
            F.count("started_match").alias("started_match"),
            F.count("finished_match").alias("finished_match"),
        )
        .orderBy("event_date")
    )


@dataclass(frozen=True)
class GoldTable:
    """A mart: its grain, its columns with their descriptions (they become the
    warehouse's comments), its key, and how it is built from silver's tables."""

    name: str
    grain: str
    columns: dict[str, str]
    key: tuple[str, ...]
    build: Callable[[dict[str, DataFrame]], DataFrame]


GOLD_TABLES: list[GoldTable] = [
    GoldTable(
        "daily_active_players",
        "one row per day with any activity",
        {
            "activity_date": "UTC day",
            "active_players": "distinct players who logged in or played a match that day",
            "logins": "login events that day",
        },
        ("activity_date",),
        lambda s: daily_active_players(s["player_events"], s["fct_match_player"], s["fct_match"]),
    ),
    GoldTable(
        "matches_per_map_daily",
        "one row per day and map",
        {
            "match_date": "UTC day the match started",
            "map_name": "map",
            "matches": "matches started",
            "avg_duration_s": "mean match length (s)",
        },
        ("match_date", "map_name"),
        lambda s: matches_per_map_daily(s["fct_match"]),
    ),
    GoldTable(
        "win_rate_by_tier",
        "one row per skill tier (current tier of the player)",
        {
            "skill_tier": "tier",
            "players": "distinct players with games",
            "games": "player-matches",
            "wins": "player-matches won",
            "win_rate": "wins / games",
        },
        ("skill_tier",),
        lambda s: win_rate_by_tier(s["fct_match_player"], s["dim_player"]),
    ),
    GoldTable(
        "revenue_by_plan_monthly",
        "one row per month and plan",
        {
            "month": "first day of the month",
            "plan_id": "plan ('none' if unknown)",
            "payments": "paid payments",
            "revenue_brl": "paid amount in BRL",
            "refunds_brl": "refunded amount in BRL",
        },
        ("month", "plan_id"),
        lambda s: revenue_by_plan_monthly(s["fct_payment"], s["fct_subscription"]),
    ),
    GoldTable(
        "mrr_by_plan_monthly",
        "one row per month and plan",
        {
            "month": "first day of the month",
            "plan_id": "plan",
            "active_subscriptions": "subscriptions active at month end",
            "mrr_brl": "monthly recurring revenue in BRL (price / period months)",
        },
        ("month", "plan_id"),
        lambda s: mrr_by_plan_monthly(s["fct_subscription"]),
    ),
    GoldTable(
        "subscription_churn_monthly",
        "one row per month",
        {
            "month": "first day of the month",
            "active_at_start": "subscriptions active when the month starts",
            "churned": "of those, cancelled during the month",
            "churn_rate": "churned / active_at_start",
        },
        ("month",),
        lambda s: subscription_churn_monthly(s["fct_subscription"]),
    ),
    GoldTable(
        "leaderboard",
        "one row per ranked player (top 100 by MMR, banned excluded)",
        {
            "rank": "1 = best",
            "player_id": "player",
            "nickname": "nickname",
            "skill_tier": "tier",
            "mmr": "matchmaking rating",
            "games": "matches played",
            "wins": "matches won",
            "win_rate": "wins / games",
        },
        ("rank",),
        lambda s: leaderboard(s["dim_player"], s["fct_match_player"]),
    ),
    GoldTable(
        "login_funnel_daily",
        "one row per day with logins",
        {
            "event_date": "UTC day of the events",
            "logged_in": "players who logged in",
            "created_lobby": "of those, who created a lobby",
            "started_match": "of those, who started a match",
            "finished_match": "of those, who finished a match",
        },
        ("event_date",),
        lambda s: login_funnel_daily(s["player_events"]),
    ),
]


def build_gold(silver: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """Every mart's frame from silver's frames by table name (nothing is written)."""
    return {t.name: t.build(silver) for t in GOLD_TABLES}


def _refuse_pending(settings: Settings) -> None:
    pending = pending_publishes(settings)
    if pending:
        raise SilverPublishPending(
            f"gold: the silver publish of run {pending[0]} was interrupted, so silver is "
            "partly old, partly new; run `sandbox run silver` to complete it first"
        )


def run_gold(
    spark: SparkSession,
    settings: Settings,
    progress: Progress | None = None,
    *,
    force: bool = False,
    known: KnownStates | None = None,
    as_of: datetime | None = None,
) -> dict[str, int]:
    """Rebuild the gold marts from silver (cut at ``as_of``: ``sandbox.jobs.as_of``);
    returns rows per mart. A mart whose fingerprint (its code, gold's shared code, the
    versions of the silver tables it reads, ``as_of``) is that of its published version
    is kept, unless ``force``. The others are staged side by side, counted in one query,
    then published together (one Delta commit each recording the fingerprint, the count
    and ``as_of``: ``sandbox.jobs.publish``). A mart that fails to build leaves every
    published mart as it was. ``known``: the table states of the pipeline run so far
    (silver's, when it ran in this process); the marts' are added to it."""
    _refuse_pending(settings)
    known = {} if known is None else known
    sources = {t.name: silver_path(settings, t.domain, t.name) for t in SILVER_TABLES}
    outputs = {t.name: gold_path(settings, t.name) for t in GOLD_TABLES}
    states = table_states(settings, [*sources.values(), *outputs.values()], known)
    silver = {name: read_delta(spark, uri, states[uri]) for name, uri in sources.items()}
    silver = silver_as_of(silver, as_of) if as_of else silver
    module = sys.modules[__name__]
    # Silver's own code reaches gold only through its tables, whose versions count.
    shared = shared_digest(module, "GOLD_TABLES", exclude={"sandbox.jobs.silver"})
    rows: dict[str, int] = {}
    changed: dict[str, tuple[DataFrame, str]] = {}
    for table in GOLD_TABLES:
        reads = Inputs(silver)
        df = table.build(reads)
        fp = digest(
            shared,
            settings.profile,
            table.name,
            code_digest(table.build, module),
            as_of.isoformat() if as_of else None,
            {
                n: None if (found := states[sources[n]]) is None else found.identity
                for n in sorted(reads.read)
            },
        )
        state = states[outputs[table.name]]
        if not force and record_matches(state, fp):
            assert state is not None and state.record is not None  # record_matches checked both
            rows[table.name] = state.record["rows"]
        else:
            changed[table.name] = (df, fp)
    located = {name: (df, outputs[name], fp) for name, (df, fp) in changed.items()}
    extra = {"as_of": as_of.isoformat()} if as_of else {}
    counted = publish.publish_counted(spark, settings, located, known, record=extra)
    rows = {t.name: counted[t.name] if t.name in counted else rows[t.name] for t in GOLD_TABLES}
    if progress:
        for name, n in rows.items():
            progress(f"gold {name}: {n} rows" + ("" if name in counted else " (unchanged)"))
    return rows
