"""Start a state machine on the local endpoint, wait for it, and read its logs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.orchestrate.aws.clients import aws_client
from sandbox.orchestrate.aws.errors import ExecutionError
from sandbox.platform import Settings


@dataclass
class ExecutionResult:
    arn: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None
    states: list[tuple[str, str]]  # (state, event type) for every state entered and left
    seconds: float
    failures: list[str]  # each task failure on the way (error: cause), retried or not


def state_machine_arn(settings: Settings, name: str) -> str:
    sfn = aws_client(settings, "stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        if machine["name"] == name:
            return machine["stateMachineArn"]
    known = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    raise ExecutionError(
        f"aws: no state machine {name!r} (deployed: {known}); run `sandbox aws up` to deploy aws/",
        code="StateMachineDoesNotExist",
        resource=name,
    )


def start(settings: Settings, name: str, payload: dict | None = None) -> str:
    """Start an execution of state machine ``name`` with ``payload``; returns its ARN."""
    sfn = aws_client(settings, "stepfunctions")
    execution = f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    return sfn.start_execution(
        stateMachineArn=state_machine_arn(settings, name),
        name=execution,
        input=json.dumps(payload or {}),
    )["executionArn"]


def wait(
    settings: Settings, arn: str, *, timeout_s: float = 600, poll_s: float = 0.5
) -> ExecutionResult:
    """Wait for an execution to end; returns its status, output and the states it went through."""
    sfn = aws_client(settings, "stepfunctions")
    started = time.monotonic()
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            break
        if time.monotonic() - started > timeout_s:
            raise ExecutionError(
                f"aws: execution {arn} still running after {timeout_s:.0f}s", resource=arn
            )
        time.sleep(poll_s)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    states = []
    for e in events:
        for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
            if key in e:
                states.append((e[key]["name"], e["type"]))
    failures = [
        f"{d.get('error')}: {d.get('cause', '')}"
        for e in events
        for key, d in e.items()
        if key.endswith("FailedEventDetails") and key != "executionFailedEventDetails"
    ]
    failed: dict[str, Any] = next(
        (e["executionFailedEventDetails"] for e in events if "executionFailedEventDetails" in e), {}
    )
    return ExecutionResult(
        arn,
        d["status"],
        json.loads(d["output"]) if d.get("output") else None,
        failed.get("error"),
        failed.get("cause"),
        states,
        time.monotonic() - started,
        failures,
    )


def log_lines(
    settings: Settings, group: str, *, stream_prefix: str | None = None, limit: int = 200
) -> list[str]:
    """The newest ``limit`` events of a log group (optionally one stream prefix), oldest first."""
    logs = aws_client(settings, "logs")
    try:
        kwargs = {"logGroupName": group, "limit": 10_000}
        if stream_prefix:
            kwargs["logStreamNamePrefix"] = stream_prefix
        events = logs.filter_log_events(**kwargs)["events"]
    except logs.exceptions.ResourceNotFoundException as exc:
        groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
        raise ExecutionError(
            f"logs: no log group {group!r}; groups: {groups}",
            code="ResourceNotFoundException",
            resource=group,
        ) from exc
    events.sort(key=lambda e: (e["timestamp"], e.get("eventId", "")))
    return [
        f"{datetime.fromtimestamp(e['timestamp'] / 1000, UTC):%H:%M:%S} "
        f"{e['logStreamName']}  {e['message']}"
        for e in events[-limit:]
    ]
