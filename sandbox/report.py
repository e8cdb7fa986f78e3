"""The offline gold report: one self-contained HTML file, charts drawn as inline SVG.

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

from sandbox.events.schemas import STREAMS
from sandbox.jobs.gold import GOLD_TABLES
from sandbox.jobs.lake import SOURCE_KEYS, bronze_events_path, bronze_path, gold_path, silver_path
from sandbox.jobs.silver import SILVER_TABLES
from sandbox.settings import Settings

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2"]
W, H, PAD = 720, 260, 44


def _esc(value: object) -> str:
    return html.escape(str(value))


def _tick(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.3g}"


def _axis_labels(labels: Sequence[str], xs: Sequence[float]) -> str:
    step = max(1, len(labels) // 8)
    return "".join(
        f'<text x="{x:.1f}" y="{H - PAD + 16}" font-size="10" text-anchor="middle">'
        f"{_esc(label)}</text>"
        for i, (label, x) in enumerate(zip(labels, xs, strict=True))
        if i % step == 0
    )


def _frame(chart_id: str, title: str, body: str, legend: dict[str, str], top: float) -> str:
    items = "".join(
        f'<span class="key"><i style="background:{color}"></i>{_esc(name)}</span>'
        for name, color in legend.items()
    )
    grid = "".join(
        f'<line x1="{PAD}" x2="{W - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
        f'<text x="{PAD - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">'
        f"{_tick(top * (1 - i / 4))}</text>"
        for i, y in enumerate(PAD + k * (H - 2 * PAD) / 4 for k in range(5))
    )
    return (
        f'<figure class="chart" id="{chart_id}"><figcaption>{_esc(title)}</figcaption>'
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{_esc(title)}">{grid}{body}</svg><div class="legend">{items}</div></figure>'
    )


def line_chart(chart_id: str, title: str, labels: list[str], series: dict[str, list]) -> str:
    if not labels:
        return _empty(chart_id, title)
    top = max((float(v or 0) for vs in series.values() for v in vs), default=1.0) or 1.0
    n = len(labels)
    xs = [PAD + (W - PAD - 10) * (i / max(n - 1, 1)) for i in range(n)]
    body, legend = "", {}
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        legend[name] = color
        pts = " ".join(
            f"{x:.1f},{H - PAD - (H - 2 * PAD) * float(v or 0) / top:.1f}"
            for x, v in zip(xs, values, strict=True)
        )
        body += f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>'
    return _frame(chart_id, title, body + _axis_labels(labels, xs), legend, top)


def bar_chart(chart_id: str, title: str, labels: list[str], values: list) -> str:
    if not labels:
        return _empty(chart_id, title)
    top = max(float(v or 0) for v in values) or 1.0
    n = len(labels)
    slot = (W - PAD - 10) / n
    body = ""
    xs = []
    for i, v in enumerate(values):
        h = (H - 2 * PAD) * float(v or 0) / top
        x = PAD + i * slot + slot * 0.15
        xs.append(x + slot * 0.35)
        body += (
            f'<rect x="{x:.1f}" y="{H - PAD - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"><title>{_esc(labels[i])}: {_esc(v)}</title></rect>'
        )
    return _frame(chart_id, title, body + _axis_labels(labels, xs), {}, top)


def _empty(chart_id: str, title: str) -> str:
    return (
        f'<figure class="chart" id="{chart_id}"><figcaption>{_esc(title)}</figcaption>'
        "<p>No data yet.</p></figure>"
    )


def _table(headers: list[str], rows: list[Sequence]) -> str:
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
    for t in SILVER_TABLES:
        out.append(
            (
                "silver",
                f"{t.domain}.{t.name}",
                _delta_rows(settings, silver_path(settings, t.domain, t.name)),
            )
        )
    for t in GOLD_TABLES:
        out.append(("gold", t.name, _delta_rows(settings, gold_path(settings, t.name))))
    with psycopg.connect(settings.postgres_url(settings.warehouse_db)) as conn:
        for t in GOLD_TABLES:
            try:
                (n,) = conn.execute(f'select count(*) from gold."{t.name}"').fetchone()
            except psycopg.errors.UndefinedTable:
                conn.rollback()
                n = None
            out.append(("warehouse", f"gold.{t.name}", n))
    return [(layer, name, "-" if n is None else n) for layer, name, n in out]


def last_run_path(settings: Settings) -> Path:
    return settings.runtime_dir / "runs" / "last.json"


def build_report(settings: Settings) -> str:
    """The report's HTML, from the warehouse and the lake."""
    with psycopg.connect(settings.postgres_url(settings.warehouse_db)) as conn:
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
.legend .key {{ margin-right: 1rem; font-size: .85rem; }}
.legend i {{ display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; }}
table {{ border-collapse: collapse; font-size: .85rem; }}
td, th {{ border-bottom: 1px solid #e5e7eb; padding: .25rem .6rem; text-align: left; }}
svg text {{ fill: #374151; font-family: system-ui, sans-serif; }}
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
    out = path or settings.runtime_dir / "reports" / "gold-report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(settings), encoding="utf-8")
    return out
