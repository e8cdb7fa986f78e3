"""Single-node references of silver (tables and quality rules), for the benchmark only.

The six silver tables built again in DuckDB SQL and in Polars over bronze as local
Parquet (what ``local_run`` writes), with the rules of ``SILVER_TABLES`` applied by
each engine's own code: the rules are read from their declarations, the transforms
are written anew, so nothing is shared with the Spark job but the contract. Each
returns, per table, the passed rows and the quarantined rows (with ``_failed_rules``)
in one comparable form; ``sail_silver`` reads Sail's output into the same form.
Nothing in the pipeline uses this module.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.bench.reference import records
from sandbox.jobs import QUARANTINE_COLUMNS, Rule
from sandbox.jobs.silver import SILVER_TABLES

BRONZE = [
    "plans",
    "players",
    "subscriptions",
    "payments",
    "lobbies",
    "matches",
    "match_players",
    "events",
]

# Rows per table: the passed ones, then the quarantined ones (Arrow tables or records).
Split = tuple

DUCKDB_BUILD = {
    "dim_player": """
        with active as (
          select player_id, arg_max(plan_id, started_at) as current_plan_id
          from subscriptions where status = 'active' group by 1)
        select p.player_id, trim(p.nickname) as nickname, lower(trim(p.email)) as email,
               upper(p.country) as country_code, p.skill_tier, p.mmr, p.is_banned,
               a.current_plan_id, a.current_plan_id is not null as is_subscriber,
               p.created_at::date as signup_date, p.created_at, p.updated_at
        from players p left join active a using (player_id)""",
    "fct_match": """
        select m.match_id, m.lobby_id, l.host_player_id, m.map as map_name,
               m.mode as game_mode, l.region, m.started_at, m.ended_at,
               m.started_at::date as match_date,
               (floor(epoch(m.ended_at)) - floor(epoch(m.started_at)))::int as duration_s,
               m.winning_team::int as winning_team
        from matches m left join lobbies l using (lobby_id)""",
    "fct_match_player": """
        select match_id, player_id, team::int as team, kills, deaths, assists, score, won,
               ((kills + assists) / greatest(deaths, 1))::decimal(8,3) as kda
        from match_players""",
    "fct_subscription": """
        select s.subscription_id, s.player_id, s.plan_id, s.status, s.started_at,
               s.cancelled_at, p.price_brl::decimal(14,2) as price_brl,
               p.period_months::int as period_months,
               (p.price_brl::decimal(14,2) / p.period_months::int)::decimal(14,2)
                 as monthly_value_brl
        from subscriptions s left join plans p using (plan_id)""",
    "fct_payment": """
        select payment_id, player_id, subscription_id, amount_brl::decimal(14,2) as amount_brl,
               method as payment_method, status as payment_status, created_at as paid_at,
               created_at::date as payment_date
        from payments""",
    "player_events": """
        with base as (
          select event_id, event_type, event_time, event_date, payload,
                 try_cast(json_extract_string(payload, '$.match_id') as bigint) as match_id,
                 try_cast(json_extract_string(payload, '$.lobby_id') as bigint) as lobby_id,
                 try_cast(json_extract_string(payload, '$.payment_id') as bigint) as payment_id
          from events),
        single as (
          select * exclude (payload),
                 try_cast(json_extract_string(payload, '$.player_id') as bigint) as player_id,
                 null::boolean as won
          from base where event_type not in ('match_started', 'match_finished')),
        started as (
          select * exclude (payload),
                 unnest(json_extract(payload, '$.player_ids')::bigint[]) as player_id,
                 null::boolean as won
          from base where event_type = 'match_started'),
        results as (
          select * exclude (payload),
                 unnest(from_json(json_extract(payload, '$.results'),
                                  '[{"player_id": "BIGINT", "won": "BOOLEAN"}]')) as r
          from base where event_type = 'match_finished'),
        finished as (
          select * exclude (r), r.player_id as player_id, r.won as won from results),
        rows as (
          select * from single union all by name select * from started
          union all by name select * from finished)
        select e.event_id, e.event_type, e.event_time, e.event_date, e.player_id, e.match_id,
               e.lobby_id, e.payment_id, e.won, p.country_code, p.skill_tier, m.map_name,
               m.game_mode
        from rows e left join dim_player p using (player_id)
        left join fct_match m using (match_id)""",
}


def _sql_literal(value) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _duckdb_flag(rule: Rule, built: dict[str, str]) -> str:
    col = rule.columns[0]
    if rule.kind == "not_null":
        return f"{col} is null"
    if rule.kind == "unique":
        return f"count(*) over (partition by {', '.join(rule.columns)}) > 1"
    if rule.ref is None:
        values = ", ".join(_sql_literal(v) for v in rule.values)
        return f"{col} is not null and {col} not in ({values})"
    frame, ref_col = rule.ref.split(".", 1)
    # The full parent (every row built), or with cascade the rows that passed.
    source = f"{frame}_passed" if rule.cascade else built.get(frame, frame)
    return (
        f"{col} is not null and {col} not in "
        f"(select {ref_col} from {source} where {ref_col} is not null)"
    )


def duckdb_silver(bronze_dir: Path, out_dir: Path | None = None) -> dict[str, Split]:
    """Silver in DuckDB, as Arrow tables; with ``out_dir`` also written as Parquet."""
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for name in BRONZE:
        con.execute(
            f"create view {name} as select * from read_parquet('{bronze_dir / name}/*.parquet')"
        )
    built: dict[str, str] = {}
    out = {}
    for table in SILVER_TABLES:
        con.execute(f"create table {table.name}_built as {DUCKDB_BUILD[table.name]}")
        built[table.name] = f"{table.name}_built"
        flags = [f"case when {_duckdb_flag(r, built)} then '{r.name}' end" for r in table.rules]
        con.execute(
            f"create table {table.name}_checked as select *, "
            f"list_filter([{', '.join(flags)}]::varchar[], lambda x: x is not null) "
            "as _failed_rules "
            f"from {table.name}_built"
        )
        con.execute(
            f"create table {table.name}_passed as select * exclude (_failed_rules) "
            f"from {table.name}_checked where len(_failed_rules) = 0"
        )
        # Later tables read the passed rows under the table's own name.
        con.execute(f"create view {table.name} as select * from {table.name}_passed")
        passed = con.sql(f"select * from {table.name}_passed").to_arrow_table()
        quarantined = con.sql(
            f"select *, '{table.name}' as _table from {table.name}_checked "
            "where len(_failed_rules) > 0"
        ).to_arrow_table()
        if out_dir is not None:
            _write(out_dir, table.name, passed, quarantined)
        out[table.name] = (passed, quarantined)
    return out


def _write(out_dir: Path, name: str, passed, quarantined) -> None:
    import pyarrow.parquet as pq

    for kind, data in (("silver", passed), ("quarantine", quarantined)):
        (out_dir / kind / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(data, out_dir / kind / name / "part-0.parquet")


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
            _write(out_dir, table.name, passed.to_arrow(), quarantined.to_arrow())
        out[table.name] = (passed.to_arrow(), quarantined.to_arrow())
    return out


def sail_silver(output_dir: Path) -> dict[str, Split]:
    """What ``local_run`` wrote for silver (Sail), in the references' form."""
    import pyarrow.dataset as ds

    def rows(folder: Path, drop: tuple[str, ...] = ()) -> list[dict]:
        files = sorted(folder.glob("*.parquet"))
        if not files:
            return []
        table = ds.dataset(files).to_table()
        return table.drop_columns([c for c in drop if c in table.column_names]).to_pylist()

    # A passed part's files also hold the quarantine's columns (null), as a split writes.
    return {
        t.name: (
            records(rows(output_dir / "silver" / t.name, QUARANTINE_COLUMNS)),
            records(rows(output_dir / "quarantine" / t.name)),
        )
        for t in SILVER_TABLES
    }


def as_records(splits: dict[str, Split]) -> dict[str, Split]:
    """A reference's Arrow tables in the comparable form."""
    return {
        name: (records(p.to_pylist()), records(q.to_pylist())) for name, (p, q) in splits.items()
    }


def differences(expected: dict[str, Split], got: dict[str, Split]) -> list[str]:
    """The tables (and which side) where ``got`` differs from ``expected``."""
    wrong = []
    for name, (passed, quarantined) in expected.items():
        if got[name][0] != passed:
            wrong.append(f"{name} (passed)")
        if got[name][1] != quarantined:
            wrong.append(f"{name} (quarantine)")
    return wrong


def same_rows(expected: Path, got: Path) -> bool:
    """Whether two folders of Parquet hold the same rows (as a multiset), compared as text.

    In DuckDB, so that millions of rows compare without loading them into Python;
    columns are ``got``'s, matched by name and cast to text (engines pick different
    integer and decimal widths for the same values); ``expected``'s files may hold more.
    """
    import duckdb

    files = [sorted(str(p) for p in folder.glob("*.parquet")) for folder in (expected, got)]
    if not files[0] or not files[1]:
        return files[0] == files[1] or _empty(files[0] or files[1])
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    cols = [  # the columns of ``got``: ``expected``'s files may hold more (a split's)
        r[0] for r in con.execute("describe select * from read_parquet(?)", [files[1]]).fetchall()
    ]
    text = ", ".join(f'cast("{c}" as varchar) as "{c}"' for c in cols)
    a, b = (f"select {text} from read_parquet({f!r})" for f in files)
    row = con.execute(
        f"select (select count(*) from ({a} except all {b})) + "
        f"(select count(*) from ({b} except all {a}))"
    ).fetchone()
    if row is None:
        raise RuntimeError("the difference query returned no row")
    return row[0] == 0


def _empty(files: list[str]) -> bool:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files) == 0
