"""The platform end to end: demo twice (first and incremental), warehouse, report in Chromium."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from sandbox.jobs.fingerprint import table_state
from sandbox.jobs.gold import GOLD_TABLES
from sandbox.jobs.layers import gold_path
from sandbox.orchestrate.demo import run_demo
from sandbox.platform.stack import EmbeddedStack
from sandbox.serve.warehouse import WarehouseLoadError, load_table, read_gold
from tests.conftest import keep_screenshot

pytestmark = pytest.mark.slow

CHARTS = [
    "chart-dap",
    "chart-maps",
    "chart-revenue",
    "chart-churn",
    "chart-funnel",
    "chart-quarantine",
]


@pytest.fixture(scope="module")
def demo(running_stack: EmbeddedStack):
    first = run_demo(
        running_stack.settings, scale=0.05, changes=400, step=lambda m: None, stack=running_stack
    )
    second = run_demo(
        running_stack.settings, scale=0.05, changes=300, step=lambda m: None, stack=running_stack
    )
    return running_stack.settings, first, second


def test_demo_runs_twice_the_second_time_incrementally(demo) -> None:
    _, first, second = demo
    assert first.first_run and not second.first_run
    assert first.seeded["players"] == 500
    assert not second.seeded
    # every simulated change went through DMS, the second run only the new ones
    assert second.cdc_changes == second.changes
    assert Path(second.report).exists()
    names = [name.strip() for name, _ in second.steps]
    assert names[:1] == ["up"] and "seed" not in names
    assert {"bronze", "silver", "gold", "warehouse", "report"} <= set(names)


def test_history_runs_into_the_simulated_traffic_without_a_gap(demo) -> None:
    # The seeded history ends today (--as-of default), where the simulator writes: the
    # report's monthly and daily charts have no empty stretch before the traffic.
    settings, _, _ = demo
    today = datetime.now(UTC).date()
    with psycopg.connect(settings.postgres_url(settings.warehouse_db)) as conn:
        revenue = conn.execute(
            "select month from gold.revenue_by_plan_monthly group by 1 having sum(revenue_brl) > 0"
            " order by 1"
        )
        months = [m for (m,) in revenue.fetchall()]
        active = conn.execute("select activity_date from gold.daily_active_players order by 1")
        days = [d for (d,) in active.fetchall()]
    assert months[-1] == today.replace(day=1)
    for a, b in itertools.pairwise(months):
        assert (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1, (a, b)
    assert days[-1] == today
    # a small scale has a quiet day now and then, never a quiet week
    assert max((b - a).days for a, b in itertools.pairwise(days)) <= 7, days


def test_warehouse_tables_equal_gold_with_keys_and_comments(demo) -> None:
    settings, _, _ = demo
    with psycopg.connect(settings.postgres_url(settings.warehouse_db)) as conn:
        for table in GOLD_TABLES:
            gold = read_gold(settings, table.name)
            cur = conn.execute(f'select * from gold."{table.name}"')
            assert [d.name for d in cur.description] == gold.column_names
            wh = sorted(map(tuple, cur.fetchall()), key=repr)
            lake = sorted((tuple(r.values()) for r in gold.to_pylist()), key=repr)
            assert wh == lake, table.name
            pk = conn.execute(
                "select array_agg(a.attname order by a.attnum) from pg_index i join pg_attribute a"
                " on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
                " where i.indrelid = %s::regclass and i.indisprimary",
                (f'gold."{table.name}"',),
            ).fetchone()[0]
            assert pk == list(table.key)
            (comment,) = conn.execute(
                "select obj_description(%s::regclass)", (f'gold."{table.name}"',)
            ).fetchone()
            # the grain, and which gold version the rows are (a load skips a mart whose
            # comment already names the current one)
            state = table_state(settings, gold_path(settings, table.name))
            assert (
                comment == f"Grain: {table.grain}. Loaded from gold Delta version {state.identity}."
            )
        kinds = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'gold' and table_name = 'revenue_by_plan_monthly'"
            ).fetchall()
        )
        assert kinds["revenue_brl"] == "numeric"  # decimals stay decimals


def test_a_failed_load_keeps_the_previous_table(demo) -> None:
    settings, _, _ = demo
    table = next(t for t in GOLD_TABLES if t.name == "win_rate_by_tier")
    with psycopg.connect(settings.postgres_url(settings.warehouse_db), autocommit=True) as conn:
        before = conn.execute("select * from gold.win_rate_by_tier order by 1").fetchall()
        good = read_gold(settings, table.name)
        duplicate_key = pa.concat_tables([good, good.slice(0, 1)])
        with pytest.raises(WarehouseLoadError, match=r"gold\.win_rate_by_tier failed.*kept"):
            load_table(conn, table, duplicate_key)
        after = conn.execute("select * from gold.win_rate_by_tier order by 1").fetchall()
        assert after == before and isinstance(after[0][-1], Decimal)
        # and a good load still swaps in
        assert load_table(conn, table, good) == good.num_rows


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's `chromium` for a headless render"
)
def test_report_renders_in_headless_chromium(demo, tmp_path: Path) -> None:
    _, _, second = demo
    report = Path(second.report)
    html = report.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for chart in CHARTS:
        assert f'id="{chart}"' in dom
        section = dom.split(f'id="{chart}"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in section and section.count("<path") > 5, chart
    shot = tmp_path / "report.png"
    subprocess.run(
        ["chromium", *flags, "--window-size=800,2000", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    from PIL import Image

    colors = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 20, "the screenshot is blank"
    keep_screenshot(shot, "report.png")
    # the quarantine chart names the rule the demo's deleted players break
    quarantine = dom.split('id="chart-quarantine"', 1)[1].split("</figure>", 1)[0]
    assert "relationship" in quarantine, quarantine[:500]


def test_cli_runs_one_task_and_names_unknown_ones(demo) -> None:
    from typer.testing import CliRunner

    from sandbox.cli import app

    settings, _, _ = demo
    runner = CliRunner()
    result = runner.invoke(app, ["run", "gold"], env=settings.as_env())
    assert result.exit_code == 0, result.output
    assert "gold leaderboard" in result.output and "pipeline run" in result.output
    bad = runner.invoke(app, ["run", "platinum"], env=settings.as_env())
    assert bad.exit_code == 1
    assert "unknown task 'platinum'" in bad.output and "silver" in bad.output


def test_cli_keeps_what_did_not_change_and_rebuilds_it_with_force(demo) -> None:
    from typer.testing import CliRunner

    from sandbox.cli import app

    settings, _, _ = demo
    env = settings.as_env()
    runner = CliRunner()
    for _ in range(2):  # a test before may have loaded a mart by hand: the first reloads it
        result = runner.invoke(app, ["run", "silver", "gold", "warehouse"], env=env)
        assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # the console wraps long lines at its width
    assert out.count("(same code and inputs)") == 6 and out.count("rows (unchanged)") == 8
    assert "warehouse: 0 marts committed in one transaction, 8 unchanged" in out
    forced = runner.invoke(app, ["run", "silver", "gold", "warehouse", "--force"], env=env)
    assert forced.exit_code == 0, forced.output
    out = " ".join(forced.output.split())
    assert "unchanged" not in out and "silver: 12 tables published in one step" in out
    assert "warehouse: 8 marts committed in one transaction" in out
