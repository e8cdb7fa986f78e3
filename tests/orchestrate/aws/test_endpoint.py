"""The course case on the local AWS endpoint: boto3 and the AWS CLI against it.

One endpoint per module, on a private stack, with schedules sped up 120 times, and
``aws/template.yaml`` deployed as ``sandbox aws up`` deploys it. The dbt runs override
the task's command with a stand-in that fails on demand (the template's runs ``dbt
build``), as an execution's input may on AWS.
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
from sandbox.orchestrate.aws.deploy import ARTIFACTS_BUCKET, deploy
from sandbox.orchestrate.aws.template import TEMPLATE
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
    stack.up()
    try:
        stack.start_optional("aws")
        done = deploy(stack.settings)  # aws/template.yaml, through CloudFormation
        # the nightly rule would fire within minutes at 120x: these tests fire their own
        aws_client(stack.settings, "events").disable_rule(Name="nightly-dbt-build")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = aws_client(stack.settings, "iam").create_role(
            RoleName="test-lambda", AssumeRolePolicyDocument=json.dumps(trust)
        )
        done.values["TestLambdaRoleArn"] = role["Role"]["Arn"]  # for the tests' own functions
        yield stack, done
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def overrides(**env: str) -> dict:
    """The execution input that runs the template's dbt task with the stand-in command."""
    pairs = [{"Name": k, "Value": v} for k, v in env.items()]
    container = {
        "Name": "dbt",
        "Command": [sys.executable, "-c", DBT_STANDIN],
        "Environment": pairs,
    }
    return {"overrides": {"ContainerOverrides": [container]}}


def test_dbt_build_retries_a_transient_failure_and_logs_it(endpoint, tmp_path: Path) -> None:
    stack, _ = endpoint
    settings = stack.settings
    arn = executions.start(settings, "dbt_build", overrides(FAIL_ONCE=str(tmp_path / "m")))
    result = executions.wait(settings, arn, timeout_s=120)
    assert result.status == "SUCCEEDED", (result.error, result.failures, result.states)
    entered = Counter(name for name, kind in result.states if kind.endswith("Entered"))
    # the failed attempt is the Retry's: the state fails once with States.TaskFailed
    # and runs again inside the same state
    assert [f.split(":")[0] for f in result.failures] == ["States.TaskFailed"]
    assert entered["RunDbt"] == 1 and entered["NotifyFailure"] == 0
    # the ECS task's output is in its awslogs group, one stream per task
    lines = executions.log_lines(settings, "/ecs/lakehouse-dbt", stream_prefix="dbt/dbt/")
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
    # the first attempt and the Retry's two (MaxAttempts 2), then the Catch notifies
    assert [f.split(":")[0] for f in result.failures] == ["States.TaskFailed"] * 3
    assert entered["RunDbt"] == 1 and entered["NotifyFailure"] == 1


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
    assert "/ecs/lakehouse-dbt" in names


def test_a_schedule_rule_fires_while_the_sandbox_runs(endpoint, tmp_path: Path) -> None:
    stack, done = endpoint
    settings = stack.settings
    events = aws_client(settings, "events")
    sfn = aws_client(settings, "stepfunctions")
    machine = done.state_machines["dbt_build"]
    marker = tmp_path / "m"
    marker.touch()  # no planted failure
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    # a rule whose years are past never fires again, and must not stop the others
    events.put_rule(Name="a-past-year", ScheduleExpression="cron(0 6 * * ? 2025)")
    events.put_targets(Rule="a-past-year", Targets=[{"Id": "dbt", "Arn": machine}])
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
        events.disable_rule(Name="a-past-year")
    fired = [
        e
        for e in sfn.list_executions(stateMachineArn=machine)["executions"]
        if e["name"].startswith("test-every-minute")
    ]
    assert fired, "the rule did not fire"


def test_put_rule_refuses_what_eventbridge_refuses(endpoint) -> None:
    """AWS's answer to a five-field cron, as a Terraform user captured it
    (cds-snc/notification-terraform#344): "ValidationException: Parameter
    ScheduleExpression is not valid." (status 400)."""
    stack, _ = endpoint
    events = aws_client(stack.settings, "events")
    for expression in ("cron(0 6 * * *)", "cron(0 6 * * * *)", "rate(5 minute)"):
        with pytest.raises(events.exceptions.ClientError) as refused:
            events.put_rule(Name="refused", ScheduleExpression=expression)
        error = refused.value.response["Error"]
        assert error["Code"] == "ValidationException", expression
        assert error["Message"] == "Parameter ScheduleExpression is not valid."
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "refused" not in {r["Name"] for r in events.list_rules()["Rules"]}


@pytest.mark.matrix  # 55 s: seven EMR Serverless job runs, each a process; CI runs it
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
    # each task was an EMR Serverless job run that its state waited for (.sync)
    emr = aws_client(settings, "emr-serverless")
    runs = emr.list_job_runs(applicationId=done.values["LakeJobsApplicationId"])["jobRuns"]
    succeeded = {r.get("name") for r in runs if r["state"] == "SUCCESS"}
    tasks = {"ingest_dms", "ingest_firehose", "bronze", "silver", "gold", "warehouse", "report"}
    assert tasks <= succeeded, tasks - succeeded
    results = result.output["results"]
    assert results["bronze"]["jobRunId"] in {r["id"] for r in runs}


# -- AWS's failure semantics for ecs:runTask.sync --------------------------------------
#
# The rule, as AWS applies it (no AWS page states it in one sentence; these are public
# captures of real executions):
# - a container that exits non-zero fails the Task state with States.TaskFailed, its
#   Cause the stopped task's description: an error document captured from AWS,
#   https://github.com/mcattarinussi/step-functions-runtask-retry/blob/fd5822c2b645f804e98154b1bfce71bd6f04e438/test/data/error-events/failed-task-exit-code-1.json
#   (Containers[].ExitCode 1, StopCode EssentialContainerExited, StoppedReason "Essential
#   container in task exited", StartedBy "AWS Step Functions"); an AWS Copilot maintainer's
#   observations,
#   https://github.com/aws/copilot-cli/issues/3160#issuecomment (2022-01-03): "If an
#   essential container exits with a non-zero exit code, then the "States.TaskFailed"
#   error status is returned. If the container fails to come up at all [...] then the
#   "States.TaskFailed" error status is returned."; a captured history with that error
#   and the task as the cause: https://github.com/awslabs/realtime-fraud-detection-with-gnn-on-dgl/issues/1192
# - a NON-essential container's non-zero exit fails it too: a production execution
#   where the app container exited 0 and the non-essential log router 137 (SIGKILLed
#   at shutdown) failed with States.TaskFailed, StopCode EssentialContainerExited:
#   https://github.com/wellcomecollection/catalogue-pipeline/pull/3377 (2026-05).
#   (Issue #28 asked for the opposite; the only capture of real AWS says this.)
# - TimeoutSeconds gives States.Timeout, which States.TaskFailed does not match:
#   https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
# - StopTask: SIGTERM, SIGKILL after the stop timeout, exit 137 = SIGKILL:
#   https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html and
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html


def _container(name: str, code: str, *, essential: bool = True, stop_timeout: int = 0) -> dict:
    spec = {
        "name": name,
        "image": "python:3.11",
        "memory": 128,  # moto sums the containers' memory (ECS would take the task's)
        "essential": essential,
        "command": [sys.executable, "-c", code],
    }
    return spec | ({"stopTimeout": stop_timeout} if stop_timeout else {})


def _one_task_state_machine(
    endpoint, name: str, containers: list[dict], *, timeout_s: int | None = None
) -> str:
    """A state machine of one ecs:runTask.sync state, no Retry, no Catch."""
    stack, done = endpoint
    settings = stack.settings
    ecs = aws_client(settings, "ecs")
    family = f"test-{name}"
    arn = ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=containers,
    )["taskDefinition"]["taskDefinitionArn"]
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::ecs:runTask.sync",
        "Parameters": {
            "Cluster": done.values["ClusterArn"],
            "TaskDefinition": arn,
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "Subnets": [done.values["SubnetId"]],
                    "SecurityGroups": [done.values["SecurityGroupId"]],
                }
            },
        },
        "End": True,
    }
    if timeout_s:
        task["TimeoutSeconds"] = timeout_s
    definition = {"StartAt": "Run", "States": {"Run": task}}
    sfn = aws_client(settings, "stepfunctions")
    return sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn=done.values.get("StatesRoleArn", "arn:aws:iam::123456789012:role/test"),
    )["stateMachineArn"]


def _run(endpoint, machine: str) -> executions.ExecutionResult:
    stack, _ = endpoint
    sfn = aws_client(stack.settings, "stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    return executions.wait(stack.settings, arn, timeout_s=120)


def test_a_container_exiting_non_zero_fails_a_sync_task_with_no_retry(endpoint) -> None:
    machine = _one_task_state_machine(
        endpoint, "exit3", [_container("main", "raise SystemExit(3)")]
    )
    result = _run(endpoint, machine)
    assert result.status == "FAILED", "AWS fails the state: the endpoint must not succeed"
    assert result.error == "States.TaskFailed"
    stopped = json.loads(result.cause or "{}")
    assert [c["ExitCode"] for c in stopped["Containers"]] == [3]
    assert stopped["StopCode"] == "EssentialContainerExited"
    assert stopped["StoppedReason"] == "Essential container in task exited"
    assert stopped["LastStatus"] == stopped["DesiredStatus"] == "STOPPED"
    assert stopped["StartedBy"] == "AWS Step Functions"
    assert stopped["StartedAt"] <= stopped["StoppedAt"]


def test_a_zero_exit_succeeds_with_the_stopped_task_as_output(endpoint) -> None:
    machine = _one_task_state_machine(endpoint, "exit0", [_container("main", "print('ok')")])
    result = _run(endpoint, machine)
    assert result.status == "SUCCEEDED", result.failures
    assert [c["ExitCode"] for c in result.output["Containers"]] == [0]


def test_a_non_essential_container_exiting_non_zero_fails_it_too(endpoint) -> None:
    machine = _one_task_state_machine(
        endpoint,
        "sidecar",
        [
            _container("app", "import time; time.sleep(1)"),
            _container("sidecar", "raise SystemExit(1)", essential=False),
        ],
    )
    result = _run(endpoint, machine)
    assert result.status == "FAILED" and result.error == "States.TaskFailed"
    codes = {c["Name"]: c["ExitCode"] for c in json.loads(result.cause or "{}")["Containers"]}
    assert codes == {"app": 0, "sidecar": 1}


def test_an_essential_exit_stops_the_other_containers(endpoint) -> None:
    """ECS stops the task's other containers when an essential one exits: a sidecar
    that would run for ever is SIGTERMed (143) and the task stops."""
    machine = _one_task_state_machine(
        endpoint,
        "essential",
        [
            _container("app", "print('done')"),
            _container("forever", "import time; time.sleep(600)", essential=False),
        ],
    )
    result = _run(endpoint, machine)
    assert result.seconds < 60
    codes = {c["Name"]: c["ExitCode"] for c in json.loads(result.cause or "{}")["Containers"]}
    assert codes == {"app": 0, "forever": 143}


def test_a_command_that_cannot_start_fails_with_task_failed_to_start(endpoint) -> None:
    spec = _container("main", "")
    spec["command"] = ["no-such-binary-in-the-image"]
    result = _run(endpoint, _one_task_state_machine(endpoint, "nostart", [spec]))
    assert result.status == "FAILED" and result.error == "States.TaskFailed"
    stopped = json.loads(result.cause or "{}")
    assert stopped["StopCode"] == "TaskFailedToStart"
    assert "CannotStartContainerError" in stopped["StoppedReason"]
    assert "ExitCode" not in stopped["Containers"][0]


# Container secrets: valueFrom a Secrets Manager ARN (with a JSON key) or an SSM
# parameter, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html;
# one that cannot be read stops the task before it starts, with the reason public
# captures show (aws/copilot-cli#2095, aws-samples/dataops-platform-airflow-dbt#12).


def test_a_containers_secrets_are_read_from_secrets_manager_and_ssm(endpoint) -> None:
    stack, _ = endpoint
    settings = stack.settings
    secret = aws_client(settings, "secretsmanager").create_secret(
        Name="test/app", SecretString=json.dumps({"token": "s3cr3t-from-asm"})
    )["ARN"]
    aws_client(settings, "ssm").put_parameter(
        Name="/test/region-name", Value="from-ssm", Type="SecureString"
    )
    code = (
        "import os, sys; "
        "sys.exit(0 if (os.environ['TOKEN'], os.environ['WHERE']) == "
        "('s3cr3t-from-asm', 'from-ssm') else 5)"
    )
    spec = _container("main", code)
    spec["secrets"] = [
        {"name": "TOKEN", "valueFrom": f"{secret}:token::"},
        {"name": "WHERE", "valueFrom": "/test/region-name"},
    ]
    result = _run(endpoint, _one_task_state_machine(endpoint, "secrets", [spec]))
    assert result.status == "SUCCEEDED", result.cause

    missing = _container("main", "print('never runs')")
    missing["secrets"] = [
        {"name": "TOKEN", "valueFrom": secret.rsplit(":", 1)[0] + ":no-such-secret-AbCdEf"}
    ]
    result = _run(endpoint, _one_task_state_machine(endpoint, "nosecret", [missing]))
    assert result.status == "FAILED" and result.error == "States.TaskFailed"
    stopped = json.loads(result.cause or "{}")
    assert stopped["StopCode"] == "TaskFailedToStart"
    reason = stopped["StoppedReason"]
    assert reason.startswith("ResourceInitializationError: unable to pull secrets"), reason
    assert "no-such-secret" in reason and "ExitCode" not in stopped["Containers"][0]


def test_timeout_seconds_gives_states_timeout(endpoint) -> None:
    machine = _one_task_state_machine(
        endpoint, "hang", [_container("main", "import time; time.sleep(8)")], timeout_s=2
    )
    result = _run(endpoint, machine)
    assert result.status == "FAILED" and result.error == "States.Timeout"


def test_stop_task_terminates_then_kills_a_container_that_ignores_sigterm(endpoint) -> None:
    stack, done = endpoint
    ecs = aws_client(stack.settings, "ecs")
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ignoring SIGTERM', flush=True); time.sleep(600)"
    )
    arn = ecs.register_task_definition(
        family="test-stubborn",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[_container("main", stubborn, stop_timeout=2)],
    )["taskDefinition"]["taskDefinitionArn"]
    network = {
        "awsvpcConfiguration": {
            "subnets": [done.values["SubnetId"]],
            "securityGroups": [done.values["SecurityGroupId"]],
        }
    }
    task = ecs.run_task(
        cluster=done.values["ClusterArn"],
        taskDefinition=arn,
        launchType="FARGATE",
        networkConfiguration=network,
    )["tasks"][0]
    time.sleep(1)  # it has installed its handler
    stopped = ecs.stop_task(cluster=task["clusterArn"], task=task["taskArn"], reason="hung")
    assert stopped["task"]["desiredStatus"] == "STOPPED"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = ecs.describe_tasks(cluster=task["clusterArn"], tasks=[task["taskArn"]])
        if described["tasks"][0]["lastStatus"] == "STOPPED":
            break
        time.sleep(0.25)
    final = described["tasks"][0]
    assert final["lastStatus"] == "STOPPED"
    assert final["stopCode"] == "UserInitiated" and final["stoppedReason"] == "hung"
    assert final["containers"][0]["exitCode"] == 137  # SIGKILL after the 2 s stopTimeout


# -- Lambda as AWS runs it -----------------------------------------------------------

LAMBDA_SOURCE = """
import os, time
def handler(event, context):
    if event.get("release"):  # wait (at most 30 s) for the caller to say go, then say done
        deadline = time.time() + 30
        while not os.path.exists(event["release"]) and time.time() < deadline:
            time.sleep(0.1)
        open(event["done"], "w").close()
    if event.get("fail"):
        raise ValueError("planted: " + event["fail"])
    return {"ok": True}
"""


def _function(endpoint, name: str) -> str:
    import io
    import zipfile

    stack, done = endpoint
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", LAMBDA_SOURCE)
    return aws_client(stack.settings, "lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=done.values["TestLambdaRoleArn"],
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
        Timeout=30,
    )["FunctionArn"]


def test_a_lambda_exception_is_named_by_its_type_in_step_functions(endpoint) -> None:
    """Step Functions reports a function's exception by its errorType, the Cause being
    the runtime's error document: AWS's own recording of this case,
    https://github.com/localstack/localstack/blob/0d4768330f496af9f630890e34e8b62238c2c429/tests/aws/services/stepfunctions/v2/error_handling/test_task_service_lambda.snapshot.json
    ("error": "Exception" for `raise Exception(...)`, the cause with errorMessage,
    errorType, requestId, stackTrace); the Lambda invoke CLI shows FunctionError
    "Unhandled" (https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html)."""
    stack, _ = endpoint
    arn = _function(endpoint, "raises")
    invoked = aws_client(stack.settings, "lambda").invoke(
        FunctionName="raises", Payload=json.dumps({"fail": "direct"}).encode()
    )
    assert invoked["FunctionError"] == "Unhandled"
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload": {"fail": "from sfn"}},
                "End": True,
            }
        },
    }
    sfn = aws_client(stack.settings, "stepfunctions")
    machine = sfn.create_state_machine(
        name="lambda-raises",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    result = _run(endpoint, machine)
    assert result.status == "FAILED" and result.error == "ValueError"
    cause = json.loads(result.cause or "{}")
    assert cause["errorType"] == "ValueError" and cause["errorMessage"] == "planted: from sfn"
    assert cause["stackTrace"]


def test_an_event_invoke_answers_202_at_once(endpoint, tmp_path: Path) -> None:
    """InvocationType Event: "For the Event invocation type, this status code is 202"
    (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): queued, not run
    while the caller waits."""
    stack, _ = endpoint
    _function(endpoint, "waits")
    release, done = tmp_path / "release", tmp_path / "done"
    payload = json.dumps({"release": str(release), "done": str(done)}).encode()
    answer = aws_client(stack.settings, "lambda").invoke(
        FunctionName="waits", InvocationType="Event", Payload=payload
    )
    assert answer["StatusCode"] == 202
    assert not done.exists(), "the caller waited for the function to end"
    release.touch()
    deadline = time.monotonic() + 30
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert done.exists(), "the queued invocation never ran"


def test_reserved_concurrency_queues_event_invokes(endpoint, tmp_path: Path) -> None:
    """Asynchronous invocations beyond a function's reserved concurrency wait in Lambda's
    event queue (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html):
    with 1 reserved, two S3-style events run one after the other. start_pipeline relies
    on it (two DMS files must not start two pipelines)."""
    import io
    import zipfile

    stack, done = endpoint
    lam = aws_client(stack.settings, "lambda")
    source = (
        "import time\n"
        "def handler(event, context):\n"
        "    with open(event['log'], 'a') as f:\n"
        "        f.write(f'{time.time()} start\\n'); f.flush(); time.sleep(1.5)\n"
        "        f.write(f'{time.time()} end\\n')\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    lam.create_function(
        FunctionName="one-at-a-time",
        Runtime="python3.11",
        Role=done.values["TestLambdaRoleArn"],
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
        Timeout=30,
    )
    lam.put_function_concurrency(FunctionName="one-at-a-time", ReservedConcurrentExecutions=1)
    log = tmp_path / "calls.log"
    for _ in range(2):
        payload = json.dumps({"log": str(log)}).encode()
        lam.invoke(FunctionName="one-at-a-time", InvocationType="Event", Payload=payload)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("end") < 2):
        time.sleep(0.2)
    kinds = [line.split()[1] for line in log.read_text().splitlines()]
    assert kinds == ["start", "end", "start", "end"], "the two invocations overlapped"


def test_a_sync_invoke_over_the_reserved_concurrency_gets_429(endpoint, tmp_path: Path) -> None:
    """Over the reserved concurrency a synchronous Invoke is refused with HTTP 429
    TooManyRequestsException, Reason ReservedFunctionConcurrentInvocationLimitExceeded
    (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors);
    0 refuses every one; a new PutFunctionConcurrency applies at once."""
    from botocore.exceptions import ClientError

    stack, _ = endpoint
    lam = aws_client(stack.settings, "lambda")
    _function(endpoint, "capped")
    lam.put_function_concurrency(FunctionName="capped", ReservedConcurrentExecutions=1)
    release, started = tmp_path / "go", tmp_path / "started"
    busy = json.dumps({"release": str(release), "done": str(started)}).encode()
    lam.invoke(FunctionName="capped", InvocationType="Event", Payload=busy)  # holds the slot
    deadline = time.monotonic() + 30
    refused = None
    while refused is None and time.monotonic() < deadline:
        try:
            lam.invoke(FunctionName="capped", Payload=b"{}")
        except ClientError as exc:
            refused = exc.response
        time.sleep(0.2)  # until the queued invocation runs and holds the slot
    release.touch()
    assert refused is not None, "a second invoke ran beside the first"
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert refused["Error"]["Code"] == "TooManyRequestsException"
    assert refused.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.put_function_concurrency(FunctionName="capped", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as none_allowed:
        lam.invoke(FunctionName="capped", Payload=b"{}")
    assert none_allowed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    lam.delete_function_concurrency(FunctionName="capped")
    assert lam.invoke(FunctionName="capped", Payload=b"{}")["StatusCode"] == 200


# -- the template, deployed through CloudFormation --------------------------------------


def test_a_change_to_a_state_machine_file_deploys(endpoint, tmp_path: Path) -> None:
    stack, done = endpoint
    copy = tmp_path / "aws"
    shutil.copytree(TEMPLATE.parent, copy)
    asl = copy / "stepfunctions" / "dbt_build.asl.json"
    definition = json.loads(asl.read_text())
    definition["States"]["RunDbt"]["TimeoutSeconds"] = 1234
    asl.write_text(json.dumps(definition))
    sfn = aws_client(stack.settings, "stepfunctions")
    arn = done.state_machines["dbt_build"]
    try:
        deploy(stack.settings, template_path=copy / "template.yaml")
        deployed = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
        assert deployed["States"]["RunDbt"]["TimeoutSeconds"] == 1234
        # substituted from the stack, as CloudFormation's DefinitionSubstitutions do
        assert deployed["States"]["RunDbt"]["Parameters"]["Cluster"] == done.values["ClusterArn"]
    finally:
        deploy(stack.settings)
    restored = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert restored["States"]["RunDbt"]["TimeoutSeconds"] == 3600


# -- EMR Serverless job runs ---------------------------------------------------------
#
# States as EMR Serverless reports them, SUBMITTED -> RUNNING -> SUCCESS | FAILED, and
# CANCELLING -> CANCELLED: https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/job-states.html


def _job_run(endpoint, code: str, *args: str) -> tuple[str, str]:
    stack, done = endpoint
    s3 = aws_client(stack.settings, "s3")
    key = f"tests/job-{time.monotonic_ns()}.py"
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=code.encode())
    emr = aws_client(stack.settings, "emr-serverless")
    app = done.values["LakeJobsApplicationId"]
    run = emr.start_job_run(
        applicationId=app,
        executionRoleArn=done.values["TestLambdaRoleArn"],
        clientToken=key,
        jobDriver={
            "sparkSubmit": {
                "entryPoint": f"s3://{ARTIFACTS_BUCKET}/{key}",
                "entryPointArguments": list(args),
            }
        },
    )
    return app, run["jobRunId"]


def _wait_job(endpoint, app: str, run_id: str, *, until=("SUCCESS", "FAILED", "CANCELLED")) -> dict:
    stack, _ = endpoint
    emr = aws_client(stack.settings, "emr-serverless")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = emr.get_job_run(applicationId=app, jobRunId=run_id)["jobRun"]
        if run["state"] in until:
            return run
        time.sleep(0.2)
    raise AssertionError(f"job run {run_id} still {run['state']}")


def test_a_job_run_runs_its_entry_point_and_reports_its_exit(endpoint) -> None:
    app, ok = _job_run(endpoint, "import sys; print('args', sys.argv[1:])", "bronze")
    assert _wait_job(endpoint, app, ok)["state"] == "SUCCESS"
    app, bad = _job_run(endpoint, "print('about to fail'); raise SystemExit(3)")
    run = _wait_job(endpoint, app, bad)
    assert run["state"] == "FAILED"
    assert "ExitCode: 3" in run["stateDetails"] and "about to fail" in run["stateDetails"]
    stack, _ = endpoint
    lines = executions.log_lines(
        stack.settings, "/aws/emr-serverless", stream_prefix=f"applications/{app}/jobs/{ok}/"
    )
    assert any(f"/jobs/{ok}/" in line and line.endswith("args ['bronze']") for line in lines)


def test_cancel_job_run_stops_it(endpoint) -> None:
    app, run_id = _job_run(endpoint, "import time; print('working', flush=True); time.sleep(60)")
    _wait_job(endpoint, app, run_id, until=("RUNNING",))
    stack, _ = endpoint
    aws_client(stack.settings, "emr-serverless").cancel_job_run(applicationId=app, jobRunId=run_id)
    assert _wait_job(endpoint, app, run_id)["state"] == "CANCELLED"


def test_the_task_function_fails_by_name_when_its_job_run_fails(endpoint) -> None:
    stack, _ = endpoint
    out = aws_client(stack.settings, "lambda").invoke(
        FunctionName="run_pipeline_task", Payload=json.dumps({"task": "no_such_task"}).encode()
    )
    doc = json.loads(out["Payload"].read())
    assert out.get("FunctionError") == "Unhandled"
    assert doc["errorType"] == "JobRunFailed", doc
    assert "FAILED" in doc["errorMessage"] and "no_such_task" in doc["errorMessage"]


# -- Step Functions' optimized EMR Serverless integration ------------------------------
#
# startJobRun.sync starts a job run and waits until it ends; the integration answers in
# the ASL casing (ApplicationId, JobRunId, Arn), and .waitForTaskToken is not supported:
# https://docs.aws.amazon.com/step-functions/latest/dg/connect-emr-serverless.html
# A .sync job that ends unsuccessfully fails the state with States.TaskFailed, the job
# as the Cause ("Run a Job", https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-sync;
# the same rule as ecs:runTask.sync above). The role the state needs:
# https://docs.aws.amazon.com/step-functions/latest/dg/emr-serverless-iam.html


def _job_state_machine(endpoint, name: str, code: str, resource_suffix: str = ".sync") -> str:
    stack, done = endpoint
    key = f"tests/sfn-job-{name}.py"
    aws_client(stack.settings, "s3").put_object(
        Bucket=ARTIFACTS_BUCKET, Key=key, Body=code.encode()
    )
    task = {
        "Type": "Task",
        "Resource": f"arn:aws:states:::emr-serverless:startJobRun{resource_suffix}",
        "Parameters": {
            "ApplicationId": done.values["LakeJobsApplicationId"],
            "ExecutionRoleArn": done.values["TestLambdaRoleArn"],
            "Name": name,
            "JobDriver": {
                "SparkSubmit": {
                    "EntryPoint": f"s3://{ARTIFACTS_BUCKET}/{key}",
                    "EntryPointArguments": [name],
                }
            },
        },
        "End": True,
    }
    definition = {"StartAt": "Job", "States": {"Job": task}}
    return aws_client(stack.settings, "stepfunctions").create_state_machine(
        name=f"job-{name}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]


def test_start_job_run_sync_waits_for_the_run_and_answers_in_asl_casing(endpoint) -> None:
    code = "import sys, time; time.sleep(1); print('ran', sys.argv[1:])"
    result = _run(endpoint, _job_state_machine(endpoint, "sync-ok", code))
    assert result.status == "SUCCEEDED", result.failures
    out = result.output
    assert set(out) == {"ApplicationId", "JobRunId", "Arn"}, out
    stack, _ = endpoint
    run = aws_client(stack.settings, "emr-serverless").get_job_run(
        applicationId=out["ApplicationId"], jobRunId=out["JobRunId"]
    )["jobRun"]
    assert run["state"] == "SUCCESS", "the state must wait for the end of the run"
    assert run["name"] == "sync-ok"


def test_a_failed_job_run_fails_a_sync_state_with_task_failed(endpoint) -> None:
    code = "print('bad data', flush=True); raise SystemExit(3)"
    result = _run(endpoint, _job_state_machine(endpoint, "sync-exit3", code))
    assert result.status == "FAILED", "a failed job run must fail the state, as on AWS"
    assert result.error == "States.TaskFailed"
    run = json.loads(result.cause or "{}")
    assert run["State"] == "FAILED" and run["JobRunId"], run
    assert "ExitCode: 3" in run["StateDetails"] and "bad data" in run["StateDetails"]


def test_a_cancelled_job_run_fails_the_sync_state(endpoint) -> None:
    stack, done = endpoint
    sfn = aws_client(stack.settings, "stepfunctions")
    machine = _job_state_machine(endpoint, "sync-cancel", "import time; time.sleep(60)")
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    emr = aws_client(stack.settings, "emr-serverless")
    app = done.values["LakeJobsApplicationId"]
    deadline, running = time.monotonic() + 30, []
    while time.monotonic() < deadline and not running:
        runs = emr.list_job_runs(applicationId=app)["jobRuns"]
        running = [r for r in runs if r.get("name") == "sync-cancel" and r["state"] == "RUNNING"]
        time.sleep(0.2)
    assert running, "the state did not start its job run"
    emr.cancel_job_run(applicationId=app, jobRunId=running[0]["id"])
    result = executions.wait(stack.settings, arn, timeout_s=60)
    assert result.status == "FAILED" and result.error == "States.TaskFailed"
    assert json.loads(result.cause or "{}")["State"] == "CANCELLED"


def test_wait_for_task_token_is_refused_for_emr_serverless(endpoint) -> None:
    stack, _ = endpoint
    sfn = aws_client(stack.settings, "stepfunctions")
    with pytest.raises(sfn.exceptions.ClientError, match="not recognized"):
        _job_state_machine(endpoint, "token", "print(1)", ".waitForTaskToken")


def test_a_job_run_whose_entry_point_cannot_be_read_is_refused(endpoint) -> None:
    stack, done = endpoint
    emr = aws_client(stack.settings, "emr-serverless")
    app = done.values["LakeJobsApplicationId"]
    before = len(emr.list_job_runs(applicationId=app)["jobRuns"])
    with pytest.raises(emr.exceptions.ValidationException, match="could not be read"):
        emr.start_job_run(
            applicationId=app,
            executionRoleArn=done.values["TestLambdaRoleArn"],
            clientToken="missing",
            jobDriver={"sparkSubmit": {"entryPoint": f"s3://{ARTIFACTS_BUCKET}/no/such.py"}},
        )
    assert len(emr.list_job_runs(applicationId=app)["jobRuns"]) == before  # no phantom run


# -- a web page cannot use the endpoint (#30) ------------------------------------------
#
# Unsigned requests are refused as AWS refuses them, `MissingAuthenticationToken`
# (https://docs.aws.amazon.com/general/latest/gr/signing-aws-api-requests.html); a
# cross-origin request (an `Origin` header, a preflight) and a Host the endpoint does not
# serve (DNS rebinding) are refused too, and no CORS header is ever sent.

FAKE_SIGNATURE = (
    "AWS4-HMAC-SHA256 Credential=x/20261203/us-east-1/ecs/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=00"
)


def _raw(
    settings, method: str, headers: dict[str, str], path: str = "/"
) -> tuple[int, dict[str, str], str]:
    import http.client

    host, port = settings.host, settings.aws_port
    body = json.dumps(
        {
            "family": "from-a-web-page",
            "containerDefinitions": [
                {"name": "x", "image": "x", "memory": 64, "command": ["touch", "/tmp/pwned"]}
            ],
        }
    )
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(
        method,
        path,
        body=body if method == "POST" else None,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
            **headers,
        },
    )
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read().decode()


def test_a_web_page_cannot_use_the_endpoint(endpoint) -> None:
    stack, _ = endpoint
    settings = stack.settings
    ours = f"{settings.host}:{settings.aws_port}"
    unsigned = _raw(settings, "POST", {"Host": ours})
    assert unsigned[0] == 403 and "MissingAuthenticationToken" in unsigned[2]
    attacker = {"Origin": "http://attacker.example", "Authorization": FAKE_SIGNATURE}
    cross = _raw(settings, "POST", {"Host": ours, **attacker})
    assert cross[0] == 403 and "cross-origin" in cross[2]
    preflight = _raw(
        settings,
        "OPTIONS",
        {"Host": ours, **attacker, "Access-Control-Request-Method": "POST"},
    )
    assert preflight[0] == 403
    rebind = f"rebind.attacker.example:{settings.aws_port}"
    rebound = _raw(settings, "POST", {"Host": rebind, "Authorization": FAKE_SIGNATURE})
    assert rebound[0] == 403 and "does not serve Host" in rebound[2]
    # a page's <img src>: a GET with a fake query signature, to a moto-internal route
    # that would otherwise run CloudFormation's CreateStack, and the Sec-Fetch headers
    # every browser adds
    img = _raw(
        settings,
        "GET",
        {"Host": ours, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
        path="/cloudformation_us-east-1/cfnresponse?X-Amz-Signature=x&Action=CreateStack"
        "&StackName=from-a-web-page&TemplateBody=%7B%7D",
    )
    assert img[0] == 403, img
    forged = _raw(
        settings,
        "GET",
        {"Host": ours},
        path="/cloudformation_us-east-1/cfnresponse?X-Amz-Signature=x&Action=CreateStack"
        "&StackName=from-a-web-page&TemplateBody=%7B%7D",
    )
    assert forged[0] == 403 and "MissingAuthenticationToken" in forged[2], forged
    stacks = aws_client(settings, "cloudformation").list_stacks()["StackSummaries"]
    assert "from-a-web-page" not in {st["StackName"] for st in stacks}
    for _, headers, _ in (unsigned, cross, preflight, rebound, img, forged):
        assert not any(k.lower().startswith("access-control-") for k in headers), headers
    # nothing was registered, and a signed client (boto3) is served, without CORS headers
    ecs = aws_client(settings, "ecs")
    families = ecs.list_task_definition_families(familyPrefix="from-a-web-page")["families"]
    assert families == []
    served = ecs.list_clusters()["ResponseMetadata"]["HTTPHeaders"]
    assert not any(k.startswith("access-control-") for k in served), served
