"""Real dbt on the real embedded warehouse, loaded by the pipeline on a small seed.

The tests share one load and one copy of the project (its target/ stays in the test's
temp folder) and run in file order: build, second load, a planted bad row, docs, CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sandbox.orchestrate.dbt import DBT_PROJECT, dev_schema, run_dbt, task_command
from sandbox.orchestrate.demo import run_demo
from sandbox.platform.settings import PROJECT_ROOT, Settings
from sandbox.platform.stack import EmbeddedStack

pytestmark = pytest.mark.slow

# What a passing run records per node (exposures are no-ops).
OK = {"success", "pass", "no-op"}

# Any HTTP request dbt might make (hub, version check, tracking) goes nowhere.
OFFLINE = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}

# `dbt build` (the dev target) writes the developer's schema; the ECS task (prod) and CI
# write analytics_*.
DEV = dev_schema()

TOTALS = {
    # dbt mart ({schema}: the target's) -> the same total computed from gold
    "select sum(matches_started), sum(logins) from {schema}_marts.fct_engagement_daily": (
        "select (select sum(matches) from gold.matches_per_map_daily),"
        " (select sum(logins) from gold.daily_active_players)"
    ),
    "select sum(payments), sum(revenue_brl) from {schema}_marts.fct_business_monthly": (
        "select sum(payments), sum(revenue_brl) from gold.revenue_by_plan_monthly"
    ),
}


class Warehouse:
    def __init__(self, stack: EmbeddedStack, project: Path) -> None:
        self.stack = stack
        self.settings: Settings = stack.settings
        self.project = project
        self.first_totals: list[tuple] = []

    def load(self, changes: int) -> None:
        run_demo(self.settings, scale=0.02, changes=changes, step=lambda m: None, stack=self.stack)

    def dbt(self, *args: str) -> int:
        return run_dbt(self.settings, *args, project_dir=self.project, extra_env=OFFLINE)

    def query(self, sql: str) -> list[tuple]:
        url = self.settings.postgres_url(self.settings.warehouse_db)
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def totals(self, schema: str = DEV) -> list[tuple]:
        """The marts' totals in ``schema`` (the dev target's by default)."""
        marts = [self.query(m.format(schema=schema))[0] for m in TOTALS]
        gold = [self.query(g)[0] for g in TOTALS.values()]
        assert marts == gold, f"the marts in {schema}_marts add up to gold"
        return marts

    def results(self, target_path: str = "target") -> dict[str, str]:
        run = json.loads((self.project / target_path / "run_results.json").read_text())
        return {r["unique_id"]: r["status"] for r in run["results"]}


@pytest.fixture(scope="module")
def warehouse(running_stack: EmbeddedStack) -> Iterator[Warehouse]:
    # Not under pytest's temp root: another pytest session may prune it meanwhile.
    root = Path(tempfile.mkdtemp(prefix="sandbox-dbt-test-"))
    project = root / "dbt"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    wh = Warehouse(running_stack, project)
    wh.load(changes=100)
    try:
        yield wh
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.matrix  # the module's dbt builds: 50 s; CI runs them after the default run
def test_dbt_build_after_a_load_passes(warehouse: Warehouse) -> None:
    assert warehouse.dbt("build") == 0
    results = warehouse.results()
    assert results and set(results.values()) <= OK
    assert "model.lakehouse.fct_business_monthly" in results
    assert any(uid.startswith("test.lakehouse.assert_login_funnel") for uid in results)
    warehouse.first_totals = warehouse.totals()
    assert all(v for row in warehouse.first_totals for v in row)


@pytest.mark.matrix  # 20 s; the AWS endpoint tests run dbt through the ECS task too
def test_a_second_load_is_picked_up_by_the_ecs_task_command(warehouse: Warehouse) -> None:
    if not warehouse.first_totals:  # run alone (`-m matrix`): the first build is ours
        assert warehouse.dbt("build") == 0
        warehouse.first_totals = warehouse.totals()
    warehouse.load(changes=300)
    # what the state machine's ECS task runs: the task definition's command, here a process
    command, task_env = task_command(warehouse.settings, project_dir=warehouse.project)
    assert command[1:] == ["build", "--target", "prod"]
    env = {**os.environ, **task_env, **OFFLINE}
    assert subprocess.run(command, env=env, cwd=warehouse.project).returncode == 0
    second = warehouse.totals("analytics")
    assert second != warehouse.first_totals
    # the simulator only adds matches and logins; it never removes them
    assert second[0][0] > warehouse.first_totals[0][0]
    # prod wrote analytics_*; the developer's schema still holds what dev built
    marts = [warehouse.query(m.format(schema=DEV))[0] for m in TOTALS]
    assert marts == warehouse.first_totals


@pytest.mark.matrix  # see test_dbt_build_after_a_load_passes
def test_a_planted_bad_row_fails_the_build_before_the_marts(warehouse: Warehouse) -> None:
    # a day where more players finished a match than logged in: impossible
    warehouse.query("insert into gold.login_funnel_daily values ('1999-01-01', 1, 0, 0, 5)")
    try:
        assert warehouse.dbt("build", "--select", "stg_gold__login_funnel_daily+") == 1
    finally:
        warehouse.query("delete from gold.login_funnel_daily where event_date = '1999-01-01'")
    results = warehouse.results()
    assert results["test.lakehouse.assert_login_funnel_never_widens"] == "fail"
    # the mart built on it is skipped: bad data does not reach BI
    assert results["model.lakehouse.fct_engagement_daily"] == "skipped"


@pytest.mark.matrix  # 13 s: CI runs it after the default run
def test_docs_generate_works_offline(warehouse: Warehouse) -> None:
    assert warehouse.dbt("docs", "generate", "--static") == 0
    page = (warehouse.project / "target" / "static_index.html").read_text()
    assert "fct_business_monthly" in page and "gold_report" in page
    catalog = json.loads((warehouse.project / "target" / "catalog.json").read_text())
    assert "model.lakehouse.fct_engagement_daily" in catalog["nodes"]
    assert "source.lakehouse.gold.leaderboard" in catalog["sources"]


@pytest.mark.matrix  # 40 s: CI runs it after the default run
def test_dbt_ci_lints_builds_on_a_throwaway_warehouse_and_runs_slim_ci(
    warehouse: Warehouse,
) -> None:
    project = warehouse.project
    # the manifest of the build above is production; a change under review touches one
    # staging model, so slim CI builds it and what depends on it, nothing else
    state = project.parent / "prod-state"
    state.mkdir()
    shutil.copy(project / "target" / "manifest.json", state)
    model = project / "models" / "staging" / "stg_gold__mrr_by_plan_monthly.sql"
    model.write_text(
        model.read_text().replace("    mrr_brl,\n", "    -- under review\n    mrr_brl,\n")
    )
    env = {
        **os.environ,
        **warehouse.settings.as_env(),
        **OFFLINE,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DBT_PROJECT_DIR": str(project),
        "DBT_STATE": str(state),
    }
    ci = subprocess.run(
        [str(PROJECT_ROOT / "dbt" / "ci" / "run.sh"), "all"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ci.returncode == 0, ci.stdout[-3000:] + ci.stderr[-3000:]
    for step in (
        "== lint",
        "== build",
        "== slim CI",
        "== deploy",
        "(dry run) aws cloudformation deploy",
    ):
        assert step in ci.stdout
    built = warehouse.results("target/ci-build")
    assert len(built) > 40 and set(built.values()) <= OK
    slim = {uid for uid in warehouse.results("target/ci-slim") if uid.startswith("model.")}
    changed = [
        "stg_gold__mrr_by_plan_monthly",
        "dim_plan",
        "fct_plan_monthly",
        "fct_business_monthly",
    ]
    assert slim == {f"model.lakehouse.{m}" for m in changed}
    # every throwaway warehouse is gone
    assert not warehouse.query("select datname from pg_database where datname like 'warehouse_ci%'")
    # the deploy sets the image's tag on the stack and stores the prod manifest it parsed
    assert "--parameter-overrides DbtImageTag=" in ci.stdout
    assert (project / "target" / "deploy" / "manifest.json").exists()


@pytest.mark.matrix  # 30 s: CI runs it after the default run
def test_slim_ci_on_a_real_warehouse_builds_nothing_first_and_defers_to_production(
    warehouse: Warehouse,
) -> None:
    """With ``SANDBOX_WAREHOUSE_URL`` (the team's warehouse: here the embedded one, reached
    by its URL as a shared Postgres would be), slim CI needs no preceding build: the
    changed model and its children go to a throwaway ``ci_<run>_*`` schema of the
    warehouse, every other ref reads production's own ``analytics_*`` relation (dbt's
    ``--defer``: https://docs.getdbt.com/reference/node-selection/defer), and the
    schemas are gone afterwards."""
    if not warehouse.query(
        "select 1 from information_schema.tables where table_schema = 'analytics_marts'"
    ):  # run alone: production's relations, as the ECS task leaves them
        assert warehouse.dbt("run", "--target", "prod") == 0
    root = warehouse.project.parent / "slim-real"
    project = root / "dbt"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    # production's state: the manifest of the unchanged project, as the deploy stores it
    assert (
        run_dbt(warehouse.settings, "parse", target="prod", project_dir=project, extra_env=OFFLINE)
        == 0
    )
    state = root / "prod-state"
    state.mkdir()
    shutil.copy(project / "target" / "manifest.json", state)
    model = project / "models" / "staging" / "stg_gold__mrr_by_plan_monthly.sql"
    model.write_text(model.read_text().replace("    mrr_brl,\n", "    -- review\n    mrr_brl,\n"))
    env = {
        **os.environ,
        **warehouse.settings.as_env(),
        **OFFLINE,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DBT_PROJECT_DIR": str(project),
        "SANDBOX_WAREHOUSE_URL": warehouse.settings.warehouse_dsn(),
    }
    ci = subprocess.run(
        [str(PROJECT_ROOT / "dbt" / "ci" / "run.sh"), "slim", str(state)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ci.returncode == 0, ci.stdout[-3000:] + ci.stderr[-3000:]
    assert "throwaway schema ci_" in ci.stdout and "throwaway warehouse" not in ci.stdout
    run = json.loads((project / "target" / "ci-slim" / "run_results.json").read_text())
    models = {r["unique_id"]: r for r in run["results"] if r["unique_id"].startswith("model.")}
    changed = ["stg_gold__mrr_by_plan_monthly", "dim_plan", "fct_plan_monthly"]
    assert set(models) == {f"model.lakehouse.{m}" for m in [*changed, "fct_business_monthly"]}
    assert all(r["status"] == "success" for r in models.values())
    assert all(r["relation_name"].startswith('"warehouse"."ci_') for r in models.values())
    # the changed parent is read from the CI schema, the unchanged one from production's
    compiled = project / "target" / "ci-slim" / "compiled" / "lakehouse" / "models" / "marts"
    sql = (compiled / "fct_plan_monthly.sql").read_text()
    assert '"analytics_staging"."stg_gold__revenue_by_plan_monthly"' in sql
    assert re.search(r'"ci_\w+_staging"\."stg_gold__mrr_by_plan_monthly"', sql)
    # nothing built first, nothing left behind: no clone, no ci_* schema
    assert not warehouse.query("select datname from pg_database where datname like 'warehouse_ci%'")
    assert not warehouse.query("select nspname from pg_namespace where nspname like 'ci\\_%'")
