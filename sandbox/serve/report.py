"""The offline gold report: one self-contained HTML file, charts inlined as SVG.

It opens with no network at all (no scripts, no CDN, no fonts to fetch): the gold
metrics from the warehouse as charts, the leaderboard, row counts per layer, and the
timings of the last pipeline run. ``sandbox report`` prints the file's path.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from sandbox.ingest.events import STREAMS
from sandbox.jobs import (
    GOLD_TABLES,
    SOURCE_KEYS,
    bronze_events_path,
    bronze_path,
    gold_path,
    quarantine_path,
    silver_path,
)
from sandbox.jobs.silver import SILVER_TABLES
from sandbox.platform import Settings
from sandbox.serve.charts import bar_chart, line_chart


def _esc(value: object) -> str:
    return html.escape(str(value))


def _table(headers: list[str], rows: Sequence[Sequence]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _query(conn: psycopg.Connection, q: str) -> list[tuple]:
    return conn.execute(q).fetchall()


def _delta_rows(settings: Settings, path: str) -> int | None:
    try:
        dt = DeltaTable(path, storage_options=settings.s3_storage_options())
    except TableNotFoundError:
        return None  # a layer not built yet is shown as "-"
    return dt.to_pyarrow_dataset().count_rows()


def layer_counts(settings: Settings) -> list[tuple[str, str, object]]:
    """(layer, table, rows) for bronze, silver, gold and the warehouse."""
    out: list[tuple[str, str, object]] = []
    schema = settings.dms.source_schema
    for t in SOURCE_KEYS:
        out.append(
            ("bronze", f"{schema}.{t}", _delta_rows(settings, bronze_path(settings, schema, t)))
        )
    for s in STREAMS:
        out.append(
            ("bronze", f"events.{s}", _delta_rows(settings, bronze_events_path(settings, s)))
        )
    for silver in SILVER_TABLES:
        out.append(
            (
                "silver",
                f"{silver.domain}.{silver.name}",
                _delta_rows(settings, silver_path(settings, silver.domain, silver.name)),
            )
        )
    for gold in GOLD_TABLES:
        out.append(("gold", gold.name, _delta_rows(settings, gold_path(settings, gold.name))))
    with psycopg.connect(settings.warehouse_dsn()) as conn:
        for gold in GOLD_TABLES:
            n: int | None = None
            try:
                row = conn.execute(f'select count(*) from gold."{gold.name}"').fetchone()
            except psycopg.errors.UndefinedTable:
                conn.rollback()
            else:
                if row is None:
                    raise RuntimeError(f"select count(*) from gold.{gold.name} returned no row")
                (n,) = row
            out.append(("warehouse", f"gold.{gold.name}", n))
    return [(layer, name, "-" if n is None else n) for layer, name, n in out]


def quarantine_by_rule(settings: Settings) -> list[tuple[str, int]]:
    """(``table: rule``, rows) over every silver table's quarantine, most first; a row
    that broke two rules counts for each."""
    from collections import Counter

    from deltalake import DeltaTable

    counts: Counter[str] = Counter()
    for t in SILVER_TABLES:
        path = quarantine_path(settings, t.domain, t.name)
        try:
            rules = DeltaTable(path, storage_options=settings.s3_storage_options())
        except TableNotFoundError:  # not built yet: nothing quarantined there
            continue
        column = rules.to_pyarrow_table(columns=["_failed_rules"]).column("_failed_rules")
        for broken in column.to_pylist():
            counts.update(f"{t.name}:\n{rule}" for rule in broken or [])
    return counts.most_common()


def last_run_path(settings: Settings) -> Path:
    return settings.runtime_dir / "runs" / "last.json"


def build_report(settings: Settings) -> str:
    """The report's HTML, from the warehouse and the lake."""
    with psycopg.connect(settings.warehouse_dsn()) as conn:
        dap = _query(
            conn, "select activity_date, active_players from gold.daily_active_players order by 1"
        )
        maps = _query(
            conn,
            "select map_name, sum(matches) from gold.matches_per_map_daily "
            "group by 1 order by 2 desc",
        )
        revenue = _query(
            conn,
            "select month, sum(revenue_brl) from gold.revenue_by_plan_monthly "
            "group by 1 order by 1",
        )
        mrr = _query(
            conn, "select month, sum(mrr_brl) from gold.mrr_by_plan_monthly group by 1 order by 1"
        )
        churn = _query(
            conn, "select month, churn_rate from gold.subscription_churn_monthly order by 1"
        )
        funnel = _query(
            conn,
            "select sum(logged_in), sum(created_lobby), sum(started_match), "
            "sum(finished_match) from gold.login_funnel_daily",
        )
        board = _query(
            conn,
            "select rank, nickname, skill_tier, mmr, games, wins, win_rate "
            "from gold.leaderboard order by rank limit 15",
        )
    months = sorted({m for m, _ in revenue} | {m for m, _ in mrr})
    rev = dict(revenue)
    mrr_d = dict(mrr)
    charts = [
        line_chart(
            "chart-dap",
            "Daily active players",
            [str(d) for d, _ in dap],
            {"active players": [v for _, v in dap]},
        ),
        bar_chart("chart-maps", "Matches per map", [m for m, _ in maps], [v for _, v in maps]),
        line_chart(
            "chart-revenue",
            "Revenue and MRR by month (BRL)",
            [str(m)[:7] for m in months],
            {"revenue": [rev.get(m, 0) for m in months], "MRR": [mrr_d.get(m, 0) for m in months]},
        ),
        line_chart(
            "chart-churn",
            "Subscription churn rate by month",
            [str(m)[:7] for m, _ in churn],
            {"churn rate": [v for _, v in churn]},
        ),
        bar_chart(
            "chart-funnel",
            "Login-to-match funnel (players, all days)",
            ["logged in", "created lobby", "started match", "finished match"],
            list(funnel[0]) if funnel and funnel[0][0] is not None else [0, 0, 0, 0],
        ),
    ]
    quarantined = quarantine_by_rule(settings) or [("(no row quarantined)", 0)]
    charts.append(
        bar_chart(
            "chart-quarantine",
            "Rows quarantined by silver's rules, by table and rule",
            [name for name, _ in quarantined],
            [n for _, n in quarantined],
        )
    )
    counts = layer_counts(settings)
    run_file = last_run_path(settings)
    timings = json.loads(run_file.read_text())["tasks"] if run_file.exists() else []
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lakehouse sandbox: gold report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 760px; color: #111827; }}
h1 {{ font-size: 1.6rem; }} h2 {{ margin-top: 2.2rem; font-size: 1.2rem; }}
figure.chart {{ margin: 1.5rem 0; }} figcaption {{ font-weight: 600; margin-bottom: .3rem; }}
table {{ border-collapse: collapse; font-size: .85rem; }}
td, th {{ border-bottom: 1px solid #e5e7eb; padding: .25rem .6rem; text-align: left; }}
figure.chart svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Gold report</h1>
<p>From the <code>warehouse</code> database (schema <code>gold</code>), generated {generated}.</p>
{"".join(charts)}
<h2 id="leaderboard">Leaderboard</h2>
{_table(["rank", "nickname", "tier", "mmr", "games", "wins", "win rate"], board)}
<h2 id="layers">Rows per layer</h2>
{_table(["layer", "table", "rows"], counts)}
<h2 id="timings">Last pipeline run</h2>
{_table(["task", "seconds"], [(t["name"], f"{t['seconds']:.2f}") for t in timings])}
</body></html>
"""


def write_report(settings: Settings, path: Path | None = None) -> Path:
    """Write the gold report (HTML with charts) to ``path``; returns where it went."""
    out = path or settings.runtime_dir / "reports" / "gold-report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(settings), encoding="utf-8")
    return out
