"""Single-node references of silver (tables and quality rules), for the benchmark only.

The six silver tables built again in DuckDB SQL (here) and in Polars
(``silver_polars``) over bronze as local
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
            write_split(out_dir, table.name, passed, quarantined)
        out[table.name] = (passed, quarantined)
    return out


def write_split(out_dir: Path, name: str, passed, quarantined) -> None:
    import pyarrow.parquet as pq

    for kind, data in (("silver", passed), ("quarantine", quarantined)):
        (out_dir / kind / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(data, out_dir / kind / name / "part-0.parquet")


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
