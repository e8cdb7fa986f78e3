"""Exercise 1, productized: retries, a failure alert and a schedule, graded by running.

The student's state machine (``*.asl.json``) runs their pipeline task through the
platform's ``run_pipeline_task`` function: a ``lambda:invoke`` Task state whose payload
is ``{"task": "<task name>"}``. The checker executes
it in the Step Functions interpreter the local AWS endpoint uses (moto's, in this
process), with the Lambda planted:

- *transient*: the first invocation fails with ``Lambda.ServiceException`` (what AWS
  names a transient Lambda error to retry:
  https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html),
  the next ones run the student's task on the sample. The execution must succeed.
- *permanent*: every invocation fails (a function error, ``Unhandled``). The execution
  must publish an alert to an SNS topic (``arn:aws:states:::sns:publish`` in a ``Catch``)
  and end failed, so the run shows red in the execution history.

Retry intervals are recorded, not waited. The schedule is read from the student's
CloudFormation template: an ``AWS::Events::Rule`` (or ``AWS::Scheduler::Schedule``)
whose expression EventBridge accepts (:func:`sandbox.orchestrate.aws.schedules.validate`)
and whose target is the state machine.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.course.catalogue import t
from sandbox.course.checks import CourseError

_REGION = "us-east-1"
_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_RUNNER = "run_pipeline_task"


@dataclass
class Execution:
    status: str
    invocations: int
    waits: list[float]
    errors: list[str]  # the task failures on the way (error names)
    alerts: list[str]  # messages published to the topic
    task_errors: list[str] = field(default_factory=list)  # what the student's task raised


def state_machines(root: Path, task_name: str) -> list[tuple[Path, dict]]:
    """The work's ASL files with a Task state that runs ``task_name``."""
    found = []
    for path in sorted(root.rglob("*.asl.json")):
        try:
            asl = json.loads(path.read_text())
        except ValueError as exc:
            where = f"{path.relative_to(root)}:{getattr(exc, 'lineno', '?')}"
            raise CourseError(t("ex1.product.not_json", where=where, error=exc)) from exc
        if _runs_task(asl, task_name):
            found.append((path, asl))
    return found


def _lambda_task(state: Any) -> bool:
    resource = str(state.get("Resource", "")) if isinstance(state, dict) else ""
    return state.get("Type") == "Task" and (
        resource.startswith((_LAMBDA_INVOKE, "arn:aws:lambda:")) or resource.startswith("${")
    )


def _task_of(state: dict) -> Any:
    """The pipeline task a Lambda Task state asks for: ``Payload.task`` with
    ``lambda:invoke``, ``task`` of the Parameters with a function ARN as Resource."""
    params = state.get("Parameters") or {}
    if not isinstance(params, dict):
        return None
    payload = params.get("Payload") if "Payload" in params else params
    return payload.get("task") if isinstance(payload, dict) else None


def _runs_task(node: Any, task_name: str) -> bool:
    if isinstance(node, dict):
        if _lambda_task(node) and str(_task_of(node)) == task_name:
            return True
        return any(_runs_task(v, task_name) for v in node.values())
    if isinstance(node, list):
        return any(_runs_task(v, task_name) for v in node)
    return False


def _bind(node: Any, task_name: str, arns: dict[str, str]) -> Any:
    """The definition pointed at the planted resources (placeholders such as
    ``${RunPipelineTaskArn}`` included): the Lambda Task states that run the student's
    task call the runner, any other Lambda the notifier, every TopicArn the topic."""
    if isinstance(node, list):
        return [_bind(v, task_name, arns) for v in node]
    if not isinstance(node, dict):
        return node
    out = {key: _bind(value, task_name, arns) for key, value in node.items()}
    if _lambda_task(node):
        function = arns["runner"] if str(_task_of(node)) == task_name else arns["notifier"]
        if str(node["Resource"]).startswith(_LAMBDA_INVOKE):
            out["Parameters"] = {**out.get("Parameters", {}), "FunctionName": function}
        else:
            out["Resource"] = function
    if isinstance(node.get("TopicArn"), str):
        out["TopicArn"] = arns["topic"]
    return out


def execute(asl: dict, task_name: str, planted: Callable[[int], dict | Exception]) -> Execution:
    """Run ``asl`` once in moto's Step Functions interpreter. ``planted(n)`` answers the
    n-th invocation of the runner with a payload, or an exception (a function error);
    any other Lambda the definition calls (a notifier) succeeds and counts as an alert."""
    import boto3
    from moto import mock_aws
    from moto.awslambda.models import LambdaFunction
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    waits: list[float] = []
    calls = [0]
    notified: list[str] = []

    class _Clock:  # the retrier's time module: intervals recorded, not waited
        @staticmethod
        def sleep(seconds: float) -> None:
            waits.append(float(seconds))

    def invoke(self, body, request_headers, response_headers):  # moto's signature
        if self.function_name != _RUNNER:
            notified.append(f"lambda {body[:200]}")
            return b"{}"
        calls[0] += 1
        answer = planted(calls[0])
        if isinstance(answer, JsonRESTError):
            raise answer
        if isinstance(answer, Exception):
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(answer).__name__, "errorMessage": str(answer)}
            return json.dumps(error).encode()
        return json.dumps(answer).encode()

    saved = LambdaFunction.invoke, retrier_decl.time, StateTaskLambda._from_error
    # the interpreter logs every failed state as an error: the verdict says what matters
    quiet = logging.getLogger("moto")
    level = quiet.level
    # moto's mock needs credentials to sign with: fake ones, for this run only
    keys = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    try:
        for key, value in keys.items():
            os.environ[key] = value or "course"
        quiet.setLevel(logging.CRITICAL)
        LambdaFunction.invoke, retrier_decl.time = invoke, _Clock
        StateTaskLambda._from_error = _legacy_lambda_error(saved[2])
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            result = _run(boto3, asl, task_name, waits, calls)
    finally:
        LambdaFunction.invoke, retrier_decl.time, StateTaskLambda._from_error = saved
        quiet.setLevel(level)
        for key, value in keys.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    result.alerts += notified
    return result


def _legacy_lambda_error(original: Callable[..., Any]) -> Callable[..., Any]:
    """A Task state whose Resource is a function ARN names Lambda's service errors as
    the lambda:invoke integration does, ``Lambda.<code>``: AWS's own example retries
    ``Lambda.ServiceException`` on such a state
    (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html);
    the vendored interpreter calls every one ``Exception``."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        event = original(self, env, ex)
        if isinstance(ex, ClientError):
            name = f"Lambda.{ex.response['Error']['Code']}"
            event.error_name = CustomErrorName(name)
            details = event.event_details.get("lambdaFunctionFailedEventDetails")
            if details is not None:
                details["error"] = name
        return event

    return from_error


def _function(session: Any, name: str, role: str) -> str:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return session.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]


def _run(boto3: Any, asl: dict, task_name: str, waits: list[float], calls: list[int]) -> Execution:
    from botocore.exceptions import ClientError

    session = boto3.Session(region_name=_REGION)
    role = session.client("iam").create_role(RoleName="course", AssumeRolePolicyDocument="{}")
    role_arn = role["Role"]["Arn"]
    sns, sqs = session.client("sns"), session.client("sqs")
    arns = {
        "runner": _function(session, _RUNNER, role_arn),
        "notifier": _function(session, "course_notify", role_arn),
        "topic": sns.create_topic(Name="course-alerts")["TopicArn"],
    }
    queue = sqs.create_queue(QueueName="course-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=arns["topic"], Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"]
    )
    sfn = session.client("stepfunctions")
    try:
        created = sfn.create_state_machine(
            name="course", definition=json.dumps(_bind(asl, task_name, arns)), roleArn=role_arn
        )
    except ClientError as exc:  # AWS refuses the definition (ValidationException)
        message = str(exc).split("operation: ", 1)[-1]
        if "Args=[" in message:  # the interpreter's own words, without the definition
            message = message.split("Args=[", 1)[1].split("] in definition", 1)[0].strip('"')
        return Execution("INVALID", 0, [], [message[:400]], [])
    arn = sfn.start_execution(stateMachineArn=created["stateMachineArn"], input="{}")
    deadline = time.monotonic() + 120
    status = "RUNNING"
    while status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = sfn.describe_execution(executionArn=arn["executionArn"])["status"]
    if status == "RUNNING":  # stopped here, so it calls nothing once the patches are gone
        sfn.stop_execution(executionArn=arn["executionArn"], cause="course: over 120 s")
        status = "TIMED_OUT"
    events = sfn.get_execution_history(executionArn=arn["executionArn"], maxResults=1000)
    errors = [
        (e.get("taskFailedEventDetails") or e.get("lambdaFunctionFailedEventDetails") or {}).get(
            "error", "?"
        )
        for e in events["events"]
        if e["type"] in {"TaskFailed", "LambdaFunctionFailed"}
    ]
    alerts = []
    for _ in range(3):
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        alerts += [json.loads(m["Body"]).get("Message", "") for m in batch]
        if not batch:
            break
    return Execution(status, calls[0], list(waits), errors, alerts)


def transient_failure() -> Exception:
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("ServiceException", "course: planted transient failure")
    error.code = 500
    return error


def describe_waits(waits: list[float]) -> str:
    return ", ".join(f"{w:g} s" for w in waits) or "0 s"
