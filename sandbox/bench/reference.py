"""Single-node reference implementations of the gold marts, for the benchmark only.

The same eight queries as ``sandbox/jobs/gold.py``, once in DuckDB SQL and once in
Polars, over the silver tables as local Parquet (what ``local_run`` writes). The
benchmark times them next to Sail and checks that all three agree. Nothing in the
pipeline uses this module.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SILVER = [
    "dim_player",
    "fct_match",
    "fct_match_player",
    "fct_subscription",
    "fct_payment",
    "player_events",
]

# Every month from the first subscription to the last start or cancellation.
MONTHS = """
        with b as (
          select min(date_trunc('month', started_at))::date as lo,
                 max(greatest(date_trunc('month', started_at),
                     coalesce(date_trunc('month', cancelled_at),
                              date_trunc('month', started_at))))::date as hi
          from fct_subscription),
        months as (
          select unnest(generate_series(lo, hi, interval 1 month))::date as month from b)"""

DUCKDB_SQL = {
    "daily_active_players": """
        with acts as (
          select event_date as activity_date, player_id, 1 as is_login from player_events
          where event_type = 'player_login'
          union all
          select m.match_date, mp.player_id, 0 from fct_match_player mp
          join fct_match m using (match_id))
        select activity_date, count(distinct player_id) as active_players,
               sum(is_login)::bigint as logins from acts group by 1""",
    "matches_per_map_daily": """
        select match_date, map_name, count(*) as matches,
               avg(duration_s)::decimal(10,1) as avg_duration_s
        from fct_match group by 1, 2""",
    "win_rate_by_tier": """
        select p.skill_tier, count(distinct mp.player_id) as players, count(*) as games,
               sum(mp.won::int)::bigint as wins,
               (sum(mp.won::int) / count(*))::decimal(6,4) as win_rate
        from fct_match_player mp join dim_player p using (player_id) group by 1""",
    "revenue_by_plan_monthly": """
        select date_trunc('month', p.paid_at)::date as month,
               coalesce(s.plan_id, 'none') as plan_id,
               sum(case when payment_status = 'paid' then 1 else 0 end)::bigint as payments,
               sum(case when payment_status = 'paid' then amount_brl else 0 end)::decimal(14,2)
                 as revenue_brl,
               sum(case when payment_status = 'refunded' then amount_brl else 0 end)
                 ::decimal(14,2) as refunds_brl
        from fct_payment p left join fct_subscription s using (subscription_id) group by 1, 2""",
    "mrr_by_plan_monthly": MONTHS
    + """
        select m.month, s.plan_id, count(*) as active_subscriptions,
               sum(s.monthly_value_brl)::decimal(14,2) as mrr_brl
        from months m cross join fct_subscription s
        where s.started_at::date <= last_day(m.month)
          and (s.cancelled_at is null or s.cancelled_at::date > last_day(m.month))
        group by 1, 2""",
    "subscription_churn_monthly": MONTHS
    + """
        select m.month, count(*) as active_at_start,
               sum(case when s.cancelled_at is not null
                         and date_trunc('month', s.cancelled_at)::date = m.month
                        then 1 else 0 end)::bigint as churned,
               (sum(case when s.cancelled_at is not null
                          and date_trunc('month', s.cancelled_at)::date = m.month
                         then 1 else 0 end) / count(*))::decimal(6,4) as churn_rate
        from months m cross join fct_subscription s
        where s.started_at::date < m.month
          and (s.cancelled_at is null or s.cancelled_at::date >= m.month)
        group by 1""",
    "leaderboard": """
        with stats as (select player_id, count(*) as games, sum(won::int)::bigint as wins
                       from fct_match_player group by 1),
        ranked as (
          select p.player_id, p.nickname, p.skill_tier, p.mmr, s.games, s.wins,
                 (s.wins / s.games)::decimal(6,4) as win_rate,
                 row_number() over (order by p.mmr desc, s.wins desc, p.player_id) as rank
          from dim_player p join stats s using (player_id) where not p.is_banned)
        select rank::int as rank, player_id, nickname, skill_tier, mmr, games, wins, win_rate
        from ranked where rank <= 100""",
    "login_funnel_daily": """
        with step as (select distinct event_date, player_id, event_type from player_events)
        select l.event_date, count(*) as logged_in, count(c.player_id) as created_lobby,
               count(s.player_id) as started_match, count(f.player_id) as finished_match
        from (select * from step where event_type = 'player_login') l
        left join (select * from step where event_type = 'lobby_created') c
          using (event_date, player_id)
        left join (select * from step where event_type = 'match_started') s
          using (event_date, player_id)
        left join (select * from step where event_type = 'match_finished') f
          using (event_date, player_id)
        group by 1""",
}


def duckdb_gold(silver_dir: Path, out_dir: Path | None = None) -> dict[str, list[dict]]:
    """The marts in DuckDB; with ``out_dir``, each is also written as Parquet (as Sail does)."""
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for name in SILVER:
        con.execute(
            f"create view {name} as select * from read_parquet('{silver_dir / name}/*.parquet')"
        )
    tables = {mart: con.sql(q).to_arrow_table() for mart, q in DUCKDB_SQL.items()}
    if out_dir is not None:
        import pyarrow.parquet as pq

        out_dir.mkdir(parents=True, exist_ok=True)
        for mart, table in tables.items():
            pq.write_table(table, out_dir / f"{mart}.parquet")
    return {mart: records(t.to_pylist()) for mart, t in tables.items()}


def polars_gold(silver_dir: Path, out_dir: Path | None = None) -> dict[str, list[dict]]:
    """The marts in Polars; with ``out_dir``, each is also written as Parquet."""
    import polars as pl

    t = {n: pl.scan_parquet(str(silver_dir / n / "*.parquet")) for n in SILVER}
    events, matches, mp = t["player_events"], t["fct_match"], t["fct_match_player"]
    players, subs, pays = t["dim_player"], t["fct_subscription"], t["fct_payment"]

    def month(col: str) -> pl.Expr:
        return pl.col(col).dt.truncate("1mo").dt.date()

    out = {}
    acts = pl.concat(
        [
            events.filter(pl.col("event_type") == "player_login").select(
                pl.col("event_date").alias("activity_date"),
                "player_id",
                pl.lit(1, pl.Int64).alias("is_login"),
            ),
            mp.join(matches.select("match_id", "match_date"), on="match_id").select(
                pl.col("match_date").alias("activity_date"),
                "player_id",
                pl.lit(0, pl.Int64).alias("is_login"),
            ),
        ]
    )
    out["daily_active_players"] = acts.group_by("activity_date").agg(
        pl.col("player_id").n_unique().alias("active_players"),
        pl.col("is_login").sum().alias("logins"),
    )
    out["matches_per_map_daily"] = matches.group_by("match_date", "map_name").agg(
        pl.len().alias("matches"),
        # decimal(10,1) in Spark: round half up to one place
        ((pl.col("duration_s").mean() * 10 + 0.5).floor() / 10).alias("avg_duration_s"),
    )
    wr = (
        mp.join(players.select("player_id", "skill_tier"), on="player_id")
        .group_by("skill_tier")
        .agg(
            pl.col("player_id").n_unique().alias("players"),
            pl.len().alias("games"),
            pl.col("won").cast(pl.Int64).sum().alias("wins"),
        )
    )
    out["win_rate_by_tier"] = wr.with_columns((pl.col("wins") / pl.col("games")).alias("win_rate"))
    paid, refunded = pl.col("payment_status") == "paid", pl.col("payment_status") == "refunded"
    rev = pays.join(subs.select("subscription_id", "plan_id"), on="subscription_id", how="left")
    out["revenue_by_plan_monthly"] = rev.group_by(
        month("paid_at").alias("month"), pl.col("plan_id").fill_null("none")
    ).agg(
        paid.cast(pl.Int64).sum().alias("payments"),
        pl.when(paid).then(pl.col("amount_brl")).otherwise(0).sum().alias("revenue_brl"),
        pl.when(refunded).then(pl.col("amount_brl")).otherwise(0).sum().alias("refunds_brl"),
    )
    bounds = subs.select(
        month("started_at").min().alias("lo"),
        pl.max_horizontal(
            month("started_at"), pl.coalesce(month("cancelled_at"), month("started_at"))
        )
        .max()
        .alias("hi"),
    ).collect()
    lo, hi = bounds["lo"][0], bounds["hi"][0]
    months = pl.LazyFrame({"month": pl.date_range(lo, hi, "1mo", eager=True)})
    grid = months.join(subs, how="cross")
    month_end = pl.col("month").dt.month_end()
    started, cancelled = pl.col("started_at").dt.date(), pl.col("cancelled_at").dt.date()
    out["mrr_by_plan_monthly"] = (
        grid.filter((started <= month_end) & (cancelled.is_null() | (cancelled > month_end)))
        .group_by("month", "plan_id")
        .agg(
            pl.len().alias("active_subscriptions"),
            pl.col("monthly_value_brl").sum().alias("mrr_brl"),
        )
    )
    churned = cancelled.is_not_null() & (month("cancelled_at") == pl.col("month"))
    out["subscription_churn_monthly"] = (
        grid.filter(
            (started < pl.col("month")) & (cancelled.is_null() | (cancelled >= pl.col("month")))
        )
        .group_by("month")
        .agg(pl.len().alias("active_at_start"), churned.cast(pl.Int64).sum().alias("churned"))
        .with_columns((pl.col("churned") / pl.col("active_at_start")).alias("churn_rate"))
    )
    stats = mp.group_by("player_id").agg(
        pl.len().alias("games"), pl.col("won").cast(pl.Int64).sum().alias("wins")
    )
    board = (
        players.filter(~pl.col("is_banned"))
        .join(stats, on="player_id")
        .select(
            "player_id",
            "nickname",
            "skill_tier",
            "mmr",
            "games",
            "wins",
            (pl.col("wins") / pl.col("games")).alias("win_rate"),
        )
        .sort(["mmr", "wins", "player_id"], descending=[True, True, False])
        .with_row_index("rank", offset=1)
    )
    out["leaderboard"] = board.filter(pl.col("rank") <= 100).select(
        pl.col("rank").cast(pl.Int32),
        "player_id",
        "nickname",
        "skill_tier",
        "mmr",
        "games",
        "wins",
        "win_rate",
    )
    step = events.select("event_date", "player_id", "event_type").unique()

    def only(kind: str, name: str):
        return step.filter(pl.col("event_type") == kind).select(
            "event_date", "player_id", pl.lit(1).alias(name)
        )

    funnel = only("player_login", "logged_in")
    for kind, name in [
        ("lobby_created", "created_lobby"),
        ("match_started", "started_match"),
        ("match_finished", "finished_match"),
    ]:
        funnel = funnel.join(only(kind, name), on=["event_date", "player_id"], how="left")
    out["login_funnel_daily"] = funnel.group_by("event_date").agg(
        pl.len().alias("logged_in"),
        pl.col("created_lobby").count(),
        pl.col("started_match").count(),
        pl.col("finished_match").count(),
    )
    collected = pl.collect_all(list(out.values()))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, df in zip(out, collected, strict=True):
            df.write_parquet(out_dir / f"{name}.parquet")
    return {name: records(df.to_dicts()) for name, df in zip(out, collected, strict=True)}


def records(rows: list[dict]) -> list[dict]:
    """Rows in a form every engine agrees on (see ``_norm``), sorted."""
    return sorted(
        ({k: _norm(v) for k, v in r.items()} for r in rows),
        key=lambda r: json.dumps(r, sort_keys=True, default=str),
    )


def _norm(value):
    """A comparable form: numbers as 4-decimal strings (Spark rounds casts half up)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return str(Decimal(str(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def normalize_spark(gold: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Sail's gold rows (as ``local_run`` returns them: strings for decimals) in the same form."""
    out = {}
    for mart, rows in gold.items():
        fixed = []
        for r in rows:
            row = {}
            for k, v in r.items():
                if isinstance(v, str) and _is_number(v):
                    v = _norm(Decimal(v))
                elif isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-":
                    v = v[:10] if len(v) == 10 or v[10] in "T " else v
                row[k] = v
            fixed.append(row)
        out[mart] = records(fixed)
    return out


def _is_number(text: str) -> bool:
    """Decimals arrive as strings like ``'0.4196'``; dates and names do not parse."""
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return "." in text
