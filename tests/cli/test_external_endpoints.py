"""The pipeline on endpoints named by URL (issue #35): a shared Spark Connect server, a
team's S3 and a real warehouse stand in for what the sandbox would start itself.

"The team's" platform is a second home's stack, with S3 keys of its own; its Sail reads
its own S3. The user's home starts only Postgres (the DMS source) and runs the whole
pipeline against the team's Spark, S3 and warehouse, named by SANDBOX_*_URL.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from deltalake import DeltaTable

from sandbox.jobs.gold import GOLD_TABLES
from sandbox.jobs.layers import gold_path
from sandbox.platform.ports import port_is_free
from sandbox.platform.stack import EmbeddedStack
from tests.conftest import isolated_settings

from .conftest import Sandbox, private_env

pytestmark = pytest.mark.slow


@pytest.mark.matrix  # about 60 s: two stacks, a seed and a full run
def test_the_pipeline_runs_on_spark_s3_and_a_warehouse_named_by_url(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    team_home = Path(tempfile.mkdtemp(prefix="sandbox-team-"))
    team = EmbeddedStack(
        isolated_settings(team_home, s3_access_key="team", s3_secret_key="team-secret-1")
    )
    team.up()
    ts = team.settings
    env = private_env(tmp_path / "mine") | {
        "SANDBOX_SPARK_URL": ts.spark_remote,
        "SANDBOX_S3_URL": ts.s3_endpoint,
        "SANDBOX_S3_ACCESS_KEY": "team",
        "SANDBOX_S3_SECRET_KEY": "team-secret-1",
        "SANDBOX_WAREHOUSE_URL": ts.postgres_url(ts.warehouse_db),
    }
    try:
        up = sandbox("up", env=env)
        assert up.code == 0, up.err
        shown = json.loads(sandbox("status", "--json", env=env).out)["services"]
        status = {s["name"]: s for s in shown}
        assert status["postgres"]["state"] == "running"
        for name in ("spark", "s3", "warehouse"):
            assert status[name]["state"] == "external", status[name]
            assert status[name]["pid"] is None
        assert "team-secret-1" not in json.dumps(status)
        assert "@" in status["warehouse"]["endpoint"]  # the user, not the password
        assert f":{ts.postgres_password.get_secret_value()}@" not in status["warehouse"]["endpoint"]
        for step in (["seed", "--scale", "0.05"], ["run"]):
            done = sandbox(*step, env=env)
            assert done.code == 0, f"{step}: {done.err}"
        for own in ("SANDBOX_S3_PORT", "SANDBOX_SPARK_PORT"):  # nothing of the user's own
            assert port_is_free("127.0.0.1", int(env[own])), own
        # the lake is in the team's bucket store, written by the team's Spark
        opts = ts.s3_storage_options()
        for mart in GOLD_TABLES:
            assert DeltaTable(gold_path(ts, mart.name), storage_options=opts).version() >= 0
        # and the warehouse is the team's
        with psycopg.connect(ts.postgres_url(ts.warehouse_db)) as conn:
            tables = "select table_name from information_schema.tables where table_schema = 'gold'"
            marts = {r[0] for r in conn.execute(tables)}
        assert {m.name for m in GOLD_TABLES} <= marts
    finally:
        sandbox("down", env=env)
        team.down()
        shutil.rmtree(team_home, ignore_errors=True)
