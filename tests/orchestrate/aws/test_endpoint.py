"""The course case on the local AWS endpoint: boto3 and the AWS CLI against it.

One endpoint per module, on a private stack, with schedules sped up 120 times. The dbt
task definition here is a stand-in whose command fails on demand (the real one, from
the dbt project, runs ``dbt build``); everything else is what ``sandbox aws up`` deploys.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sandbox.app import loader
from sandbox.ingest.dms.task import DmsTask
from sandbox.orchestrate.aws import Deployment, aws_client, executions
from sandbox.orchestrate.aws.deploy import deploy
from sandbox.platform.stack import EmbeddedStack
from tests.conftest import isolated_settings

pytestmark = pytest.mark.slow

# A dbt stand-in: FAIL_ONCE=<file> fails the first run (a transient error), FAIL=1 always.
DBT_STANDIN = (
    "import os, pathlib, sys\n"
    "marker = os.environ.get('FAIL_ONCE')\n"
    "if os.environ.get('FAIL') == '1' or (marker and not pathlib.Path(marker).exists()):\n"
    "    marker and pathlib.Path(marker).touch()\n"
    "    print('could not connect to the warehouse (planted)'); sys.exit(2)\n"
    "print('dbt build: 5 models, 12 tests, all passed')\n"
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[EmbeddedStack, Deployment]]:
    home = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    stack = EmbeddedStack(isolated_settings(home, aws_clock_speed=120.0))
    task_definition = home / "task-definition.json"
    task_definition.write_text(
        json.dumps(
            {
                "family": "dbt",
                "requiresCompatibilities": ["FARGATE"],
                "networkMode": "awsvpc",
                "cpu": "256",
                "memory": "512",
                "containerDefinitions": [
                    {
                        "name": "dbt",
                        "image": "lakehouse/dbt:local",
                        "essential": True,
                        "command": [sys.executable, "-c", DBT_STANDIN],
                        "environment": [{"name": "DBT_TARGET", "value": "prod"}],
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": "/ecs/dbt",
                                "awslogs-region": "us-east-1",
                                "awslogs-stream-prefix": "dbt",
                            },
                        },
                    }
                ],
            }
        )
    )
    stack.up()
    try:
        stack.start_optional("aws")
        done = deploy(stack.settings, task_definition=task_definition)
        # the nightly rule would fire within minutes at 120x: these tests fire their own
        aws_client(stack.settings, "events").disable_rule(Name="nightly-dbt-build")
        yield stack, done
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def overrides(**env: str) -> dict:
    pairs = [{"Name": k, "Value": v} for k, v in env.items()]
    return {"overrides": {"ContainerOverrides": [{"Name": "dbt", "Environment": pairs}]}}


def test_dbt_build_retries_a_transient_failure_and_logs_it(endpoint, tmp_path: Path) -> None:
    stack, _ = endpoint
    settings = stack.settings
    arn = executions.start(settings, "dbt_build", overrides(FAIL_ONCE=str(tmp_path / "m")))
    result = executions.wait(settings, arn, timeout_s=120)
    assert result.status == "SUCCEEDED", result
    entered = Counter(name for name, kind in result.states if kind.endswith("Entered"))
    assert entered["RunDbt"] == 2 and entered["WaitBeforeRetry"] == 1
    assert entered["NotifyFailure"] == 0
    # the ECS task's output is in its awslogs group, one stream per task
    lines = executions.log_lines(settings, "/ecs/dbt", stream_prefix="dbt/dbt/")
    assert any("(planted)" in line for line in lines)
    assert any("all passed" in line for line in lines)
    # and the execution's history in the state machine's log group, one stream per run
    name = arn.rsplit(":", 1)[-1]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            history = executions.log_lines(
                settings, "/aws/vendedlogs/states/dbt_build", stream_prefix=name
            )
        except Exception:
            history = []
        if history:
            break
        time.sleep(0.5)
    assert any('"ExecutionSucceeded"' in line for line in history)


def test_a_failing_build_is_retried_then_notified_and_fails(endpoint) -> None:
    stack, _ = endpoint
    arn = executions.start(stack.settings, "dbt_build", overrides(FAIL="1"))
    result = executions.wait(stack.settings, arn, timeout_s=120)
    assert result.status == "FAILED" and result.error == "DbtBuildFailed"
    entered = Counter(name for name, kind in result.states if kind.endswith("Entered"))
    assert entered["RunDbt"] == 3 and entered["NotifyFailure"] == 1


def test_the_aws_cli_reads_executions_and_logs(endpoint) -> None:
    stack, done = endpoint
    settings = stack.settings
    cli = [
        sys.executable,
        "-m",
        "awscli",
        "--endpoint-url",
        settings.aws_endpoint,
        "--region",
        settings.s3_region,
        "--output",
        "json",
    ]
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [
            *cli,
            "stepfunctions",
            "list-executions",
            "--state-machine-arn",
            done.state_machines["dbt_build"],
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["executions"], "the CLI sees the executions boto3 started"
    groups = subprocess.run(
        [*cli, "logs", "describe-log-groups"], env=env, capture_output=True, text=True, check=True
    ).stdout
    names = {g["logGroupName"] for g in json.loads(groups)["logGroups"]}
    assert "/ecs/dbt" in names


def test_a_schedule_rule_fires_while_the_sandbox_runs(endpoint, tmp_path: Path) -> None:
    stack, done = endpoint
    settings = stack.settings
    events = aws_client(settings, "events")
    sfn = aws_client(settings, "stepfunctions")
    machine = done.state_machines["dbt_build"]
    marker = tmp_path / "m"
    marker.touch()  # no planted failure
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    events.put_rule(Name="test-every-minute", ScheduleExpression="rate(1 minute)")
    target = {"Id": "dbt", "Arn": machine, "Input": json.dumps(overrides(FAIL_ONCE=str(marker)))}
    events.put_targets(Rule="test-every-minute", Targets=[target])
    try:
        deadline = time.monotonic() + 30  # a minute of sandbox time is half a second
        while time.monotonic() < deadline:
            if len(sfn.list_executions(stateMachineArn=machine)["executions"]) > before:
                break
            time.sleep(0.25)
    finally:
        events.disable_rule(Name="test-every-minute")
    fired = [
        e
        for e in sfn.list_executions(stateMachineArn=machine)["executions"]
        if e["name"].startswith("test-every-minute")
    ]
    assert fired, "the rule did not fire"


def test_a_dms_file_in_raw_starts_the_pipeline_which_runs_end_to_end(endpoint) -> None:
    stack, done = endpoint
    settings = stack.settings
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        loader.seed(conn, scale=0.02, seed=5)
    DmsTask(settings).run()  # lands LOAD files under raw/dms/: the trigger's prefix
    sfn = aws_client(settings, "stepfunctions")
    machine = done.state_machines["lake_pipeline"]
    deadline = time.monotonic() + 60
    started = []
    while time.monotonic() < deadline and not started:
        started = sfn.list_executions(stateMachineArn=machine)["executions"]
        time.sleep(0.5)
    assert started, "no execution started from the S3 notification"
    result = executions.wait(settings, started[0]["executionArn"], timeout_s=400)
    assert result.status == "SUCCEEDED", result.failures
    entered = [name for name, kind in result.states if kind.endswith("Entered")]
    for state in (
        "IngestDms",
        "IngestFirehose",
        "Bronze",
        "Silver",
        "Gold",
        "Warehouse",
        "Dbt",
        "Report",
    ):
        assert state in entered, state
    with psycopg.connect(settings.postgres_url(settings.warehouse_db)) as conn:
        (marts,) = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'gold'"
        ).fetchone()
    assert marts >= 8
    # every Lambda invocation has its log stream; the task function ran once per step
    lines = executions.log_lines(settings, "/aws/lambda/run_pipeline_task", limit=10_000)
    assert sum("START RequestId" in line for line in lines) >= 7
