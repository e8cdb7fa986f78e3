"""CloudWatch Logs and metrics written from inside the local endpoint, through its own
API (no moto internals: what a Lambda or an ECS task writes lands where AWS puts it)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from sandbox.orchestrate.aws.clients import endpoint_client
from sandbox.orchestrate.aws.lambda_runtime import Invocation

log = logging.getLogger(__name__)

ENDPOINT: dict[str, str] = {}  # url, region: set when the endpoint installs its extensions


def client(service: str) -> Any:
    """A boto3 client of this endpoint, from inside it."""
    return endpoint_client(service, endpoint_url=ENDPOINT["url"], region=ENDPOINT["region"])


def lambda_metrics(function_name: str, result: Invocation) -> None:
    dims = [{"Name": "FunctionName", "Value": function_name}]
    try:
        client("cloudwatch").put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {"MetricName": "Invocations", "Value": 1, "Unit": "Count", "Dimensions": dims},
                {
                    "MetricName": "Errors",
                    "Value": int(result.errored),
                    "Unit": "Count",
                    "Dimensions": dims,
                },
                {
                    "MetricName": "Duration",
                    "Value": result.duration_ms,
                    "Unit": "Milliseconds",
                    "Dimensions": dims,
                },
            ],
        )
    except Exception:  # metrics must never fail an invocation; the log says why
        log.exception("could not record Lambda metrics for %s", function_name)


def put_log_lines(group: str, stream: str, lines: list[str], *, at_ms: int | None = None) -> None:
    """Append ``lines`` to a CloudWatch Logs stream, creating the group and stream."""
    logs = client("logs")
    for create, kwargs in (
        (logs.create_log_group, {"logGroupName": group}),
        (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
    ):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            create(**kwargs)
    stamp = int(at_ms if at_ms is not None else time.time() * 1000)
    events = [{"timestamp": stamp, "message": m or " "} for m in lines]
    if events:
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
