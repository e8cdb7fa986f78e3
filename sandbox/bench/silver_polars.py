"""Silver in Polars over bronze as local Parquet, for the benchmark only: the transforms
written anew, the rules read from ``SILVER_TABLES`` (see ``silver_reference``)."""

from __future__ import annotations

from pathlib import Path

from sandbox.bench.silver_reference import BRONZE, Split, write_split
from sandbox.jobs.silver import SILVER_TABLES


def _polars_build(name: str, t: dict):
    import polars as pl

    col = pl.col
    if name == "dim_player":
        latest = col("plan_id").sort_by("started_at").last().alias("current_plan_id")
        active = (
            t["subscriptions"].filter(col("status") == "active").group_by("player_id").agg(latest)
        )
        return (
            t["players"]
            .join(active, on="player_id", how="left")
            .select(
                "player_id",
                col("nickname").str.strip_chars(" ").alias("nickname"),
                col("email").str.strip_chars(" ").str.to_lowercase().alias("email"),
                col("country").str.to_uppercase().alias("country_code"),
                "skill_tier",
                "mmr",
                "is_banned",
                "current_plan_id",
                col("current_plan_id").is_not_null().alias("is_subscriber"),
                col("created_at").dt.date().alias("signup_date"),
                "created_at",
                "updated_at",
            )
        )
    if name == "fct_match":
        lob = t["lobbies"].select("lobby_id", "region", "host_player_id")
        secs = col("ended_at").dt.epoch("s") - col("started_at").dt.epoch("s")
        return (
            t["matches"]
            .join(lob, on="lobby_id", how="left")
            .select(
                "match_id",
                "lobby_id",
                "host_player_id",
                col("map").alias("map_name"),
                col("mode").alias("game_mode"),
                "region",
                "started_at",
                "ended_at",
                col("started_at").dt.date().alias("match_date"),
                secs.cast(pl.Int32).alias("duration_s"),
                col("winning_team").cast(pl.Int32).alias("winning_team"),
            )
        )
    if name == "fct_match_player":
        kda = (col("kills") + col("assists")) / pl.max_horizontal(col("deaths"), pl.lit(1))
        return t["match_players"].select(
            "match_id",
            "player_id",
            col("team").cast(pl.Int32).alias("team"),
            "kills",
            "deaths",
            "assists",
            "score",
            "won",
            _half_up(kda, 3).alias("kda"),
        )
    if name == "fct_subscription":
        plans = t["plans"].select(
            "plan_id", col("price_brl").cast(pl.Decimal(14, 2)), col("period_months").cast(pl.Int32)
        )
        monthly = col("price_brl").cast(pl.Float64) / col("period_months")
        return (
            t["subscriptions"]
            .join(plans, on="plan_id", how="left")
            .select(
                "subscription_id",
                "player_id",
                "plan_id",
                "status",
                "started_at",
                "cancelled_at",
                "price_brl",
                "period_months",
                _half_up(monthly, 2).alias("monthly_value_brl"),
            )
        )
    if name == "fct_payment":
        return t["payments"].select(
            "payment_id",
            "player_id",
            "subscription_id",
            col("amount_brl").cast(pl.Decimal(14, 2)),
            col("method").alias("payment_method"),
            col("status").alias("payment_status"),
            col("created_at").alias("paid_at"),
            col("created_at").dt.date().alias("payment_date"),
        )
    if name == "player_events":

        def js(path: str):
            return col("payload").str.json_path_match(path).cast(pl.Int64, strict=False)

        base = t["events"].select(
            "event_id",
            "event_type",
            "event_time",
            "event_date",
            "payload",
            js("$.match_id").alias("match_id"),
            js("$.lobby_id").alias("lobby_id"),
            js("$.payment_id").alias("payment_id"),
        )
        kinds = ["match_started", "match_finished"]
        single = base.filter(~col("event_type").is_in(kinds)).with_columns(
            js("$.player_id").alias("player_id"), pl.lit(None, pl.Boolean).alias("won")
        )
        started = (
            base.filter(col("event_type") == "match_started")
            .with_columns(
                col("payload")
                .str.json_path_match("$.player_ids")
                .str.json_decode(pl.List(pl.Int64))
                .alias("player_id"),
                pl.lit(None, pl.Boolean).alias("won"),
            )
            .explode("player_id")
            .filter(col("player_id").is_not_null())
        )
        result = pl.Struct({"player_id": pl.Int64, "won": pl.Boolean})
        finished = (
            base.filter(col("event_type") == "match_finished")
            .with_columns(
                col("payload")
                .str.json_path_match("$.results")
                .str.json_decode(pl.List(result))
                .alias("r")
            )
            .explode("r")
            .filter(col("r").is_not_null())
            .with_columns(col("r").struct.field("player_id"), col("r").struct.field("won"))
            .drop("r")
        )
        rows = pl.concat([single, started, finished], how="diagonal").drop("payload")
        pl_ = t["dim_player"].select("player_id", "country_code", "skill_tier")
        mt = t["fct_match"].select("match_id", "map_name", "game_mode")
        return rows.join(pl_, on="player_id", how="left").join(mt, on="match_id", how="left")
    raise ValueError(name)


def _half_up(expr, places: int):
    """Spark's cast of a double to decimal: round half up, as a Decimal column."""
    import polars as pl

    scale = 10**places
    rounded = (expr * scale + 0.5).floor() / scale
    return rounded.cast(pl.Decimal(14, places))


def polars_silver(bronze_dir: Path, out_dir: Path | None = None) -> dict[str, Split]:
    """Silver in Polars, as Arrow tables; with ``out_dir`` also written as Parquet."""
    import polars as pl

    t = {n: pl.read_parquet(str(bronze_dir / n / "*.parquet")) for n in BRONZE}
    full: dict[str, pl.DataFrame] = {}
    out = {}
    for table in SILVER_TABLES:
        df = _polars_build(table.name, {k: v.lazy() for k, v in t.items()}).collect()
        full[table.name] = df
        flags = []
        for rule in table.rules:
            c = pl.col(rule.columns[0])
            if rule.kind == "not_null":
                flag = c.is_null()
            elif rule.kind == "unique":
                flag = pl.len().over(list(rule.columns)) > 1
            else:
                if rule.ref is None:
                    keys = pl.Series(list(rule.values))
                else:
                    frame, ref_col = rule.ref.split(".", 1)
                    parent = t if rule.cascade else full | {k: t[k] for k in t if k not in full}
                    keys = parent[frame][ref_col].drop_nulls()
                flag = c.is_not_null() & ~c.is_in(keys.cast(df.schema[rule.columns[0]]).implode())
            flags.append(pl.when(flag).then(pl.lit(rule.name)))
        failed = pl.concat_list(flags).list.drop_nulls().alias("_failed_rules")
        checked = df.with_columns(failed)
        passed = checked.filter(pl.col("_failed_rules").list.len() == 0).drop("_failed_rules")
        quarantined = checked.filter(pl.col("_failed_rules").list.len() > 0).with_columns(
            pl.lit(table.name).alias("_table")
        )
        t[table.name] = passed  # later tables read the passed rows
        if out_dir is not None:
            write_split(out_dir, table.name, passed.to_arrow(), quarantined.to_arrow())
        out[table.name] = (passed.to_arrow(), quarantined.to_arrow())
    return out
