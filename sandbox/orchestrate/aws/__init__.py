"""The AWS side of the course case, run locally: Step Functions, Lambda, ECS tasks,
EventBridge schedules, S3 triggers and CloudWatch Logs behind one local endpoint.

The endpoint is moto's server (real ASL execution with its vendored interpreter, real
API shapes for boto3 and the AWS CLI) with three things moto does not do without
Docker, added in :mod:`sandbox.orchestrate.aws.moto_extensions`: a Lambda invocation
runs the deployed handler in its own process, an ECS task runs its container's
command as a process, and schedules and S3 object-created notifications fire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.orchestrate.aws.clients import aws_client
    from sandbox.orchestrate.aws.deploy import Deployment
    from sandbox.orchestrate.aws.errors import AwsError, DeployError, ExecutionError, ScheduleError
    from sandbox.orchestrate.aws.executions import log_lines, start, wait
    from sandbox.orchestrate.aws.schedules import next_fire
    from sandbox.orchestrate.aws.template import TEMPLATE

_EXPORTS = {
    "aws_client": "clients",
    "TEMPLATE": "template",
    "Deployment": "deploy",
    "AwsError": "errors",
    "DeployError": "errors",
    "ScheduleError": "errors",
    "ExecutionError": "errors",
    "start": "executions",
    "wait": "executions",
    "log_lines": "executions",
    "next_fire": "schedules",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "TEMPLATE",
    "AwsError",
    "DeployError",
    "Deployment",
    "ExecutionError",
    "ScheduleError",
    "aws_client",
    "log_lines",
    "next_fire",
    "start",
    "wait",
]
