"""The DAG on real Apache Airflow against the embedded stack.

`sandbox airflow up` starts Airflow's services; a run triggered through the API is
taken to success by the scheduler and the LocalExecutor, each task in its own process,
into the warehouse. In the `matrix` run: a backfill of three days, then a planted
quality failure that stops a run at silver after Airflow's retry with the warehouse
untouched, and a headless Chromium that logs in, finds the first run green and the
second failed, and reads the failed task's log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from sandbox.app import generator, loader
from sandbox.orchestrate.airflow.client import AirflowClient
from sandbox.orchestrate.pipeline import TASKS
from sandbox.platform.services.airflow_server import (
    DAG_ID,
    airflow_bin,
    airflow_env,
    airflow_home,
)
from sandbox.platform.settings import Settings
from sandbox.platform.stack import EmbeddedStack
from tests.conftest import keep_screenshot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("airflow") is None,
        reason="needs the airflow dependency group (`uv sync`)",
    ),
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GOLD = ["gold.revenue_by_plan_monthly", "gold.daily_active_players"]


@pytest.fixture(scope="module")
def seeded(running_stack: EmbeddedStack) -> EmbeddedStack:
    with psycopg.connect(running_stack.settings.postgres_url(), autocommit=True) as conn:
        loader.seed(conn, scale=0.02, seed=5, as_of=generator.SAMPLE_AS_OF)
    return running_stack


def airflow(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(airflow_bin()), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def warehouse_snapshot(settings: Settings) -> dict[str, tuple]:
    """Row count and a content hash of each gold table in the warehouse."""
    with psycopg.connect(settings.postgres_url(settings.warehouse_db)) as conn:
        return {
            table: conn.execute(
                f"select count(*), coalesce(sum(hashtext(t::text)), 0) from {table} t"
            ).fetchone()
            for table in GOLD
        }


def cli_states(run_id: str, env: dict[str, str]) -> dict[str, str]:
    """Task states as `airflow tasks states-for-dag-run` prints them."""
    out = airflow(["tasks", "states-for-dag-run", DAG_ID, run_id, "-o", "plain"], env).stdout
    return dict(re.findall(r"\b(" + "|".join(t.name for t in TASKS) + r")\s+(\w+)", out))


@pytest.fixture(scope="module")
def airflow_service(seeded: EmbeddedStack) -> Iterator[AirflowClient]:
    """Airflow's services on the module's stack, as `sandbox airflow up` starts them."""
    os.environ["SANDBOX_AIRFLOW_RETRY_DELAY_S"] = "1"  # the planted failure's retry
    try:
        seeded.start_optional("airflow")
        client = AirflowClient(seeded.settings)
        client.login()
        client.wait_for_dag()
        yield client
    finally:
        os.environ.pop("SANDBOX_AIRFLOW_RETRY_DELAY_S", None)
        seeded._stop(seeded.service("airflow"))
        assert seeded.supervisor.process("airflow") is None


@pytest.fixture(scope="module")
def green_run(airflow_service: AirflowClient) -> str:
    """A run triggered through the API and taken to success by the scheduler."""
    run = airflow_service.wait(airflow_service.trigger(), timeout=900)
    assert run.state == "success", run.tasks
    return run.run_id


def task_log(settings: Settings, run_id: str, task: str) -> str:
    """The task's log file(s) of the run, as the API server serves them."""
    folder = airflow_home(settings) / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    return "".join(p.read_text() for p in sorted(folder.glob(f"task_id={task}/*.log")))


def test_the_scheduler_runs_every_task_in_its_own_process_into_the_warehouse(
    seeded: EmbeddedStack, green_run: str
) -> None:
    assert green_run.startswith("manual__")
    # Each task ran `sandbox run <task>` as a process of its own, its output in its log;
    # a manual run has no interval to honour: no --as-of value
    for task in TASKS:
        log = task_log(seeded.settings, green_run, task.name)
        assert f"run as a local process: sandbox run {task.name} --as-of" in log, task.name
    assert "gold matches_per_map_daily" in task_log(seeded.settings, green_run, "gold")
    snapshot = warehouse_snapshot(seeded.settings)
    assert all(rows > 0 for rows, _ in snapshot.values()), snapshot


@pytest.mark.matrix  # 25 s of Airflow CLI start-ups; CI runs it after the default run
def test_the_airflow_cli_runs_on_the_sandboxs_home(seeded: EmbeddedStack, green_run: str) -> None:
    """`sandbox airflow cli -- <args>` is Airflow's own CLI on this home's database, as
    the Airflow page (docs/airflow.md) writes it: the run the scheduler made, and its task
    states."""
    run_id = green_run
    sandbox = [str(Path(sys.executable).parent / "sandbox"), "airflow", "cli", "--"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= seeded.settings.as_env()

    def cli(*args: str) -> str:
        done = subprocess.run(
            [*sandbox, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    runs = cli("dags", "list-runs", DAG_ID, "-o", "json")
    listed = next(line for line in runs.splitlines() if line.startswith("[{"))  # after logs
    assert run_id in [r["run_id"] for r in json.loads(listed)]
    states = cli("tasks", "states-for-dag-run", DAG_ID, run_id, "-o", "plain")
    for task in TASKS:
        assert re.search(rf"\b{task.name}\s+success", states), (task.name, states[-2000:])


def _gold_versions_by_as_of(settings: Settings, mart: str) -> dict[str, int]:
    """The mart's Delta versions by the ``as_of`` their publish recorded."""
    from deltalake import DeltaTable

    from sandbox.jobs.fingerprint import RECORD_KEY
    from sandbox.jobs.layers import gold_path

    table = DeltaTable(gold_path(settings, mart), storage_options=settings.s3_storage_options())
    found = {}
    for commit in table.history():
        record = json.loads(commit.get(RECORD_KEY) or "{}")
        if record.get("as_of"):
            found[record["as_of"]] = commit["version"]
    return found


@pytest.mark.matrix  # three pipeline runs by Airflow's scheduler; CI runs it
def test_a_backfill_of_three_days_gives_each_day_its_own_gold(
    seeded: EmbeddedStack, airflow_service: AirflowClient
) -> None:
    """`airflow backfill create` over three past days, as docs/airflow.md writes it: three runs,
    each passing its data interval's end as `--as-of`, each publishing gold built from
    the facts up to that end (https://airflow.apache.org/docs/apache-airflow/stable/core-concepts/backfill.html)."""
    from deltalake import DeltaTable

    from sandbox.jobs.layers import gold_path, silver_path

    settings = seeded.settings
    matches = DeltaTable(
        silver_path(settings, "core", "fct_match"), storage_options=settings.s3_storage_options()
    ).to_pyarrow_table(columns=["started_at"])
    days = {t.date() for t in matches.column("started_at").to_pylist()}
    # three days whose second and third both had matches: each run's gold then differs
    first = max(d for d in days if d + timedelta(days=1) in days and d - timedelta(days=1) in days)
    first -= timedelta(days=2)
    client = airflow_service
    sandbox = [str(Path(sys.executable).parent / "sandbox"), "airflow", "cli", "--"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= settings.as_env()
    created = subprocess.run(
        [
            *sandbox,
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            str(first),
            "--to-date",
            str(first + timedelta(days=2)),
            "--max-active-runs",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    runs = client._request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=backfill")
    backfill = [r for r in runs["dag_runs"] if r["run_type"] == "backfill"]
    assert len(backfill) == 3, runs
    ends = []
    for run in backfill:
        done = client.wait(run["dag_run_id"], timeout=1200)
        assert done.state == "success", done.tasks
        ends.append(run["data_interval_end"])
    versions = _gold_versions_by_as_of(settings, "matches_per_map_daily")
    totals = []
    for end in sorted(ends):
        cut = datetime.fromisoformat(end.replace("Z", "+00:00"))
        as_of = next(k for k in versions if datetime.fromisoformat(k) == cut)
        mart = DeltaTable(
            gold_path(settings, "matches_per_map_daily"),
            storage_options=settings.s3_storage_options(),
            version=versions[as_of],
        ).to_pyarrow_table()
        dates = mart.column("match_date").to_pylist()
        assert max(dates) < cut.date(), (end, max(dates))
        started = sum(1 for t in matches.column("started_at").to_pylist() if t < cut)
        assert sum(mart.column("matches").to_pylist()) == started
        totals.append(started)
    assert totals == sorted(totals) and len(set(totals)) == 3, totals  # each day its own


@pytest.mark.matrix  # 110 s: Airflow's services, a retry and a browser; CI runs it
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")
def test_a_planted_failure_stops_a_triggered_run_at_silver_and_the_ui_shows_both_runs(
    seeded: EmbeddedStack, airflow_service: AirflowClient, green_run: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    settings = seeded.settings
    before = warehouse_snapshot(settings)
    client = airflow_service
    assert "airflow" in {s.name for s in seeded.status()}
    # A fifth of the payments get a status nobody declared: silver's accepted_values
    # rule on fct_payment breaks its threshold, on the first try and on the retry.
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        conn.execute("update payments set status = 'chargeback' where payment_id % 5 = 0")
    run = client.wait(client.trigger(), timeout=900)
    assert run.state == "failed", run.tasks
    assert run.tasks["bronze"] == "success"
    assert run.tasks["silver"] == "failed" and run.tries["silver"] == 2  # retries=1
    assert {run.tasks[t] for t in ("gold", "warehouse", "report")} == {"upstream_failed"}
    assert cli_states(run.run_id, airflow_env(settings)) == run.tasks
    assert warehouse_snapshot(settings) == before

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(settings.airflow_url)
        # The UI sends us on to the login page (nothing is open without one). A locator
        # wait rides out the redirects; wait_for_url failed once on an aborted one.
        page.locator("input[name=username]").wait_for(timeout=60_000)
        assert "/auth/login" in page.url, page.url
        page.fill("input[name=username]", settings.airflow_user)
        page.fill("input[name=password]", settings.airflow_password)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
        page.goto(f"{settings.airflow_url}/dags/{DAG_ID}/runs")
        green = page.locator("tr", has_text=green_run)
        green.wait_for(timeout=60_000)
        assert "Success" in green.inner_text()
        assert "Failed" in page.locator("tr", has_text=run.run_id).inner_text()
        for task in TASKS:  # the grid lists every task
            assert page.get_by_text(task.name, exact=True).first.is_visible()
        page.screenshot(path=str(tmp_path / "airflow-runs.png"))
        keep_screenshot(tmp_path / "airflow-runs.png", "airflow-runs.png")
        # the failed task's log, in the UI: the child process's own output is there
        page.goto(f"{settings.airflow_url}/dags/{DAG_ID}/runs/{run.run_id}/tasks/silver")
        page.get_by_text("run as a local process: sandbox run silver").first.wait_for(
            timeout=60_000
        )
        page.get_by_text("accepted_values").first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "airflow-silver-log.png"))
        browser.close()
