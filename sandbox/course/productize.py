"""Exercise 1, productized: retries, a failure alert and a schedule, graded by running.

The student's state machine (``*.asl.json``) runs their pipeline task the way the
platform's ``lake_pipeline`` does: a ``lambda:invoke`` Task state whose payload is
``{"task": "<task name>"}`` (the ``run_pipeline_task`` function). The checker executes
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


@dataclass
class Execution:
    status: str
    invocations: int
    waits: list[float]
    errors: list[str]  # the task failures on the way (error names)
    alerts: list[str]  # messages published to the topic
    task_errors: list[str] = field(default_factory=list)  # what the student's task raised


def state_machines(root: Path, task_name: str) -> list[tuple[Path, dict]]:
    """The work's ASL files with a Task state that runs ``task_name`` (payload ``task``)."""
    found = []
    for path in sorted(root.rglob("*.asl.json")):
        try:
            asl = json.loads(path.read_text())
        except ValueError as exc:
            where = f"{path.relative_to(root)}:{getattr(exc, 'lineno', '?')}"
            raise CourseError(t("ex1.product.not_json", where=where, error=exc)) from exc
        if task_name in {str(p) for p in _payload_tasks(asl)}:
            found.append((path, asl))
    return found


def _payload_tasks(node: Any) -> list[Any]:
    """Every ``Payload.task`` of a lambda:invoke Task state, in nested states too."""
    out = []
    if isinstance(node, dict):
        if node.get("Type") == "Task" and str(node.get("Resource", "")).startswith(
            (_LAMBDA_INVOKE, "arn:aws:lambda:")
        ):
            payload = (node.get("Parameters") or {}).get("Payload") or {}
            if isinstance(payload, dict) and "task" in payload:
                out.append(payload["task"])
        for value in node.values():
            out += _payload_tasks(value)
    elif isinstance(node, list):
        for value in node:
            out += _payload_tasks(value)
    return out


def _bind(node: Any, function_arn: str, topic_arn: str) -> Any:
    """The definition with every FunctionName and TopicArn pointing at the planted ones
    (placeholders such as ``${RunPipelineTaskArn}`` included)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "FunctionName" and isinstance(value, str):
                out[key] = function_arn
            elif key == "TopicArn" and isinstance(value, str):
                out[key] = topic_arn
            else:
                out[key] = _bind(value, function_arn, topic_arn)
        return out
    if isinstance(node, list):
        return [_bind(v, function_arn, topic_arn) for v in node]
    return node


def execute(asl: dict, planted: Callable[[int], dict | Exception]) -> Execution:
    """Run ``asl`` once in moto's Step Functions interpreter; ``planted(n)`` answers the
    n-th Lambda invocation with a payload, or an exception (a function error)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "course")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "course")
    import boto3
    from moto import mock_aws
    from moto.awslambda.models import LambdaFunction
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    waits: list[float] = []
    calls = [0]

    class _Clock:  # the retrier's time module: intervals recorded, not waited
        @staticmethod
        def sleep(seconds: float) -> None:
            waits.append(float(seconds))

    def invoke(self, body, request_headers, response_headers):  # moto's signature
        calls[0] += 1
        answer = planted(calls[0])
        if isinstance(answer, JsonRESTError):
            raise answer
        if isinstance(answer, Exception):
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(answer).__name__, "errorMessage": str(answer)}
            return json.dumps(error).encode()
        return json.dumps(answer).encode()

    saved = LambdaFunction.invoke, retrier_decl.time
    LambdaFunction.invoke, retrier_decl.time = invoke, _Clock
    # the interpreter logs every failed state as an error: the verdict says what matters
    quiet = logging.getLogger("moto")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            return _run(boto3, asl, waits, calls)
    finally:
        LambdaFunction.invoke, retrier_decl.time = saved
        quiet.setLevel(level)


def _run(boto3: Any, asl: dict, waits: list[float], calls: list[int]) -> Execution:
    from botocore.exceptions import ClientError

    session = boto3.Session(region_name=_REGION)
    role = session.client("iam").create_role(RoleName="course", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    function = session.client("lambda").create_function(
        FunctionName="run_pipeline_task",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name="course-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="course-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    sfn = session.client("stepfunctions")
    try:
        created = sfn.create_state_machine(
            name="course",
            definition=json.dumps(_bind(asl, function, topic)),
            roleArn=role["Role"]["Arn"],
        )
    except ClientError as exc:  # AWS refuses the definition (ValidationException)
        message = str(exc).split("operation: ", 1)[-1]
        if "Args=[" in message:  # the interpreter's own words, without the definition
            message = message.split("Args=[", 1)[1].split("] in definition", 1)[0].strip('"')
        return Execution("INVALID", 0, [], [message[:400]], [])
    machine = created["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 120
    status = "RUNNING"
    while status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = sfn.describe_execution(executionArn=arn)["status"]
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    errors = [
        e.get("taskFailedEventDetails", {}).get("error", "?")
        for e in events
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


def grade_schedule(root: Path, asl_file: str) -> tuple[bool, str]:
    """(passed, message) for the schedule: a rule or schedule in a template of the work."""
    from sandbox.orchestrate.aws import schedules
    from sandbox.orchestrate.aws.errors import AwsError, DeployError
    from sandbox.orchestrate.aws.template import load_template

    templates = [
        p
        for pattern in ("*.yaml", "*.yml", "*.json")
        for p in sorted(root.rglob(pattern))
        if ".github" not in p.parts and not p.name.endswith(".asl.json")
    ]
    for path in templates:
        try:
            template = load_template(path)
        except DeployError:
            continue
        resources = template["Resources"]
        machines = {
            name
            for name, r in resources.items()
            if isinstance(r, dict) and r.get("Type") == "AWS::StepFunctions::StateMachine"
        }
        for name, resource in resources.items():
            kind = resource.get("Type") if isinstance(resource, dict) else None
            if kind not in {"AWS::Events::Rule", "AWS::Scheduler::Schedule"}:
                continue
            props = resource.get("Properties") or {}
            where = f"{path.relative_to(root)} ({name})"
            expression = props.get("ScheduleExpression")
            if isinstance(expression, dict) and "Ref" in expression:  # a parameter's default
                parameter = (template.get("Parameters") or {}).get(expression["Ref"]) or {}
                expression = parameter.get("Default")
            if not isinstance(expression, str):
                return False, t("ex1.schedule.no_expression", where=where)
            try:
                schedules.validate(expression)
            except AwsError as exc:
                return False, t("ex1.schedule.invalid", where=where, error=exc)
            if props.get("State") in {"DISABLED", "DISABLED_STATE"}:
                return False, t("ex1.schedule.disabled", where=where)
            targets = props.get("Targets") or ([props["Target"]] if "Target" in props else [])
            refs = json.dumps(targets)
            targeted = [m for m in machines if f'"{m}"' in refs]
            if not targeted:
                return False, t(
                    "ex1.schedule.no_target", where=where, machines=sorted(machines) or "-"
                )
            definition = json.dumps(resources[targeted[0]].get("Properties") or {})
            if Path(asl_file).name not in definition and '"Definition' not in definition:
                return False, t(
                    "ex1.schedule.other_machine", where=where, machine=targeted[0], file=asl_file
                )
            return True, t("ex1.schedule.ok", where=where, expression=expression, file=asl_file)
    return False, t("ex1.schedule.none")
