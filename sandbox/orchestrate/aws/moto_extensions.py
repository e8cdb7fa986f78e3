"""What moto does not do without Docker, added to its server: the only module that
reaches into moto's internals (moto 5.2), so an upgrade is checked in one place.

* Lambda: ``LambdaFunction._invoke_lambda`` runs the deployed handler in its own
  process (:mod:`sandbox.orchestrate.aws.lambda_runtime`) instead of a container; its
  log goes to ``/aws/lambda/<name>`` and its duration and errors to CloudWatch metrics.
* ECS: ``run_task`` starts each container's command as a process
  (:mod:`sandbox.orchestrate.aws.ecs_runtime`); a task is ``RUNNING`` while a process
  runs and ``STOPPED`` with the containers' exit codes after (one container per
  definition; an essential one's exit stops the others; ``StopTask`` stops them all),
  so ``ecs:runTask.sync`` waits for the real work. As on AWS, ``.sync`` then fails the
  state with ``States.TaskFailed`` if a container exited non-zero or never started,
  the stopped task as the Cause (moto returns the task whatever its codes). moto's port
  of the ASL interpreter leaves the
  PascalCase-to-API casing of the ECS and Step Functions integrations' parameters and
  results as stubs;
  they are filled in here from botocore's service model, as the interpreter it was
  ported from does, so a real definition (``"Cluster"``, ``"TaskDefinition"``,
  ``$.Containers[0].ExitCode``) runs unchanged.
* JSONPath: moto's ``extract_json`` returns ``[0]`` for ``$.Containers[0].ExitCode``
  (an index followed by a field), where Step Functions returns ``0``; a Choice on an
  exit code then never matches. A path with one match and no wildcard, slice or
  filter yields the value itself, as in AWS.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.session
from moto.awslambda.models import LambdaFunction
from moto.core.utils import unix_time_millis
from moto.ecs.models import Container, EC2ContainerServiceBackend, Task
from moto.events.exceptions import ValidationException
from moto.events.models import EventsBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (  # noqa: E501
    StateTaskServiceEcs,
)
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from sandbox.orchestrate.aws import (
    cloudwatch,
    ecs_runtime,
    lambda_concurrency,
    lambda_runtime,
    schedules,
)
from sandbox.orchestrate.aws.errors import ScheduleError
from sandbox.orchestrate.aws.sfn_emr_serverless import task_failed

log = logging.getLogger(__name__)

_RUNS: dict[str, list[ecs_runtime.ContainerRun]] = {}
_STOPS: dict[str, tuple[str, str]] = {}  # task ARN -> (stop code, stopped reason)
_LOCK = threading.Lock()
_ORIGINAL: dict[str, Callable[..., Any]] = {}
ESSENTIAL_EXITED = "Essential container in task exited"
_ENDPOINT = cloudwatch.ENDPOINT  # the endpoint's own URL and region, set by install()


def install(endpoint_url: str, region: str) -> None:
    """Patch moto's Lambda and ECS models in this process. Idempotent."""
    _ENDPOINT.update(url=endpoint_url, region=region)
    if getattr(LambdaFunction, "_sandbox_patched", False):
        return
    # Deliberate patches of moto's models (mypy does not follow moto: see pyproject).
    LambdaFunction._invoke_lambda = _invoke_lambda
    LambdaFunction.invoke = _invoke
    LambdaFunction._sandbox_patched = True
    original_run_task = EC2ContainerServiceBackend.run_task

    def run_task(self, *args, **kwargs):
        tasks = original_run_task(self, *args, **kwargs)
        for task in tasks:
            _start_task(self, task)
        return tasks

    EC2ContainerServiceBackend.run_task = run_task
    Task.last_status = property(_task_status, Task.last_status.fset)
    StateTaskService._normalise_parameters = _normalise_parameters
    StateTaskService._normalise_response = _normalise_response
    original_describe = EC2ContainerServiceBackend.describe_tasks

    def describe_tasks(self, *args, **kwargs):
        tasks = original_describe(self, *args, **kwargs)
        for task in tasks:
            _task_status(task)
        return tasks

    EC2ContainerServiceBackend.describe_tasks = describe_tasks
    _ORIGINAL["stop_task"] = EC2ContainerServiceBackend.stop_task
    EC2ContainerServiceBackend.stop_task = _stop_task
    StateTaskServiceEcs._build_sync_resolver = _ecs_sync_resolver
    _ORIGINAL["put_rule"] = EventsBackend.put_rule
    EventsBackend.put_rule = _put_rule
    _ORIGINAL["eval_sync"] = StateTaskServiceEcs._eval_sync
    StateTaskServiceEcs._eval_sync = _ecs_eval_sync
    # Every module of the interpreter holds its own reference to extract_json: the
    # function's code is swapped so that all of them see the fix.
    json_path.extract_json.__code__ = _extract_json.__code__


def _extract_json(path, data):  # runs with json_path's globals, see install()
    matches = parse(path).find(data)  # noqa: F821
    if not matches:
        if _contains_slice_or_wildcard_array(path):  # noqa: F821
            return []
        raise NoSuchJsonPathError(json_path=path, data=data)  # noqa: F821
    if len(matches) > 1 or _contains_slice_or_wildcard_array(path) or "[?" in path:  # noqa: F821
        return [match.value for match in matches]
    return matches[0].value


def _operation(service: str, action: str):
    """The botocore operation model for ``action`` in any casing (runTask, run_task)."""
    name = "".join(part[:1].upper() + part[1:] for part in action.split("_"))
    return botocore.session.get_session().get_service_model(service).operation_model(name)


# The integrations whose casing moto left as a stub (the others already work as they are).
_NORMALISED = {"ecs", "stepfunctions"}


def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
    if self._get_boto_service_name(boto_service_name) not in _NORMALISED:
        return
    op = _operation(
        self._get_boto_service_name(boto_service_name),
        service_action_name or self.resource.api_action,
    )
    self._to_boto_request(parameters, op.input_shape)


def _normalise_response(self, response, boto_service_name=None, service_action_name=None):
    if self._get_boto_service_name(boto_service_name) not in _NORMALISED:
        return
    op = _operation(
        self._get_boto_service_name(boto_service_name),
        service_action_name or self.resource.api_action,
    )
    self._from_boto_response(response, op.output_shape)


# -- EventBridge -------------------------------------------------------------------


def _put_rule(self: EventsBackend, name: str, *args: Any, **kwargs: Any) -> Any:
    """PutRule refuses the schedule expressions EventBridge refuses (moto checks only
    the ``cron(...)``/``rate(...)`` shape), with AWS's message; the reason is logged."""
    expression = kwargs.get("scheduled_expression")
    if expression:
        try:
            schedules.validate(expression)
        except ScheduleError as exc:
            log.warning("PutRule %s: %s", name, exc)
            raise ValidationException(schedules.AWS_MESSAGE) from exc
    return _ORIGINAL["put_rule"](self, name, *args, **kwargs)


# -- Lambda ----------------------------------------------------------------------


def _invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> Any:
    """Invoke as Lambda does: ``Event`` queues the invocation and answers 202 at once
    (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html); a function's own
    exception is ``FunctionError: Unhandled`` (the Python error document's example)."""
    event = json.loads(body) if body else {}
    kind = request_headers.get("x-amz-invocation-type", "RequestResponse")
    if kind == "Event":
        threading.Thread(target=_queued_invoke, args=(self, event), daemon=True).start()
        return b""
    if kind == "DryRun":
        return b""
    with lambda_concurrency.slot(self, wait=False):  # over the reserved concurrency: 429
        payload, errored, logs = _invoke_lambda(self, event)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-log-result"] = base64.b64encode(logs[-4096:].encode()).decode()
    return payload.encode()


def _queued_invoke(function: LambdaFunction, event: object) -> None:
    """An asynchronous invocation waits for a free slot of the function's reserved
    concurrency, as Lambda's event queue holds (and retries) a throttled one:
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html. A function that
    must not run twice at once (``start_pipeline``) reserves 1."""
    with lambda_concurrency.slot(function, wait=True):
        _invoke_lambda(function, event)


def _invoke_lambda(self: LambdaFunction, event: object = None) -> tuple[str, bool, str]:
    self.logs_backend.ensure_log_group(self.logs_group_name)
    now = datetime.now(UTC)
    # What Lambda sets (the execution role's keys are the local ones) plus the function's
    # own Environment; AWS_ENDPOINT_URL, the sandbox's one addition, points the SDK here.
    env = dict(self.environment_vars) | {
        "AWS_ENDPOINT_URL": _ENDPOINT["url"],
        "AWS_REGION": self.region,
        "AWS_DEFAULT_REGION": self.region,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
    }
    stream = f"{now:%Y/%m/%d}/[{self.version}]"
    if self.handler is None:
        raise ValueError(f"lambda {self.function_name}: no handler (only zip packages run here)")
    result = lambda_runtime.invoke(
        self.code_bytes,
        self.handler,
        event if event is not None else {},
        function_name=self.function_name,
        function_arn=self.function_arn,
        runtime=str(self.run_time or ""),
        version=str(self.version),
        memory_mb=int(self.memory_size or 128),
        timeout_s=float(self.timeout or 3),
        environment=env,
        log_group=self.logs_group_name,
        log_stream=stream,
    )
    stream += result.request_id.replace("-", "")
    self.logs_backend.create_log_stream(self.logs_group_name, stream)
    self.logs_backend.put_log_events(
        self.logs_group_name,
        stream,
        [{"timestamp": unix_time_millis(), "message": line} for line in result.log.splitlines()],
    )
    cloudwatch.lambda_metrics(self.function_name, result)
    return result.payload, result.errored, result.log


# -- ECS --------------------------------------------------------------------------


def _start_task(backend: EC2ContainerServiceBackend, task: Task) -> None:
    definition = backend.describe_task_definition(task.task_definition_arn)
    overrides = {o.get("name"): o for o in (task.overrides or {}).get("containerOverrides", [])}
    runs = []
    containers = []
    for container_def in definition.container_definitions:
        runs.append(
            ecs_runtime.start_container(
                task.id,
                container_def,
                overrides.get(container_def.get("name")),
                base_env=ecs_runtime.sandbox_env(),
                host_env=ecs_runtime.warehouse_env,
                log_sink=cloudwatch.put_log_lines,
                secret=ecs_runtime.secret_reader(backend.account_id, backend.region_name),
            )
        )
        # moto describes one container per task, the first definition's: one per
        # definition, as ECS does.
        container = Container(definition)  # moto's own call
        container.name = container_def.get("name")
        container.image = container_def.get("image")
        container.command = container_def.get("command")
        container.last_status = "RUNNING"
        container.exitCode = None  # no code until it stops
        containers.append(container)
    task.containers = containers
    task.started_at = datetime.now(UTC)  # a field moto leaves out
    with _LOCK:
        _RUNS[task.task_arn] = runs
    threading.Thread(target=_essential_exit, args=(task.task_arn, runs), daemon=True).start()


def _essential_exit(task_arn: str, runs: list[ecs_runtime.ContainerRun]) -> None:
    """When an essential container stops, ECS stops the task's other containers."""
    essential = [r for r in runs if r.essential] or runs
    while not any(r.done.wait(0.2) for r in essential):
        pass
    with _LOCK:
        _STOPS.setdefault(task_arn, ("EssentialContainerExited", ESSENTIAL_EXITED))
    ecs_runtime.stop_containers(runs)


def _stop_task(self, cluster_str: str, task_str: str, reason: str) -> Task:
    """StopTask: SIGTERM to every container, SIGKILL after its stopTimeout."""
    task = _ORIGINAL["stop_task"](self, cluster_str, task_str, reason)
    with _LOCK:
        runs = _RUNS.get(task.task_arn)
        if runs is not None:
            _STOPS.setdefault(task.task_arn, ("UserInitiated", reason or "Task stopped by user"))
    if runs is not None:
        task.desired_status = "STOPPED"
        ecs_runtime.stop_containers(runs)
    return task


def _task_status(task: Task) -> str | None:
    runs = _RUNS.get(task.task_arn)
    if runs is None:
        return task.status  # a task this sandbox did not start: moto's own states
    if any(r.running for r in runs):
        return "RUNNING"
    for container, run in zip(task.containers, runs, strict=False):
        container.exitCode = run.exit_code  # None: never started
        container.last_status = "STOPPED"
        container.reason = run.reason  # a field moto leaves out
    unstarted = next((r for r in runs if not r.started), None)
    stop_code, reason = _STOPS.get(task.task_arn, ("EssentialContainerExited", ESSENTIAL_EXITED))
    if unstarted is not None and stop_code != "UserInitiated":
        stop_code, reason = "TaskFailedToStart", unstarted.reason
    task.desired_status = "STOPPED"
    # Fields moto leaves out, as ECS reports a stopped task (and Step Functions' Cause).
    task.stop_code = stop_code
    task.stopped_reason = reason
    if getattr(task, "stopped_at", None) is None:
        task.stopping_at = task.execution_stopped_at = task.stopped_at = datetime.now(UTC)
    return "STOPPED"


def _ecs_eval_sync(self: StateTaskServiceEcs, **kwargs: Any) -> Any:
    """moto also listens for a task token in ``.sync``, on an endpoint every attempt of
    the state shares; the first attempt's end interrupts it, so a Retry's next attempt
    "timed out" at once (States.Timeout). ``.sync`` has no token: wait on the task only."""
    return _ORIGINAL["eval_sync"](self, **(kwargs | {"callback_endpoint": None}))


def _ecs_sync_resolver(
    self: StateTaskServiceEcs,
    env: Any,
    resource_runtime_part: Any,
    normalised_parameters: dict,
    state_credentials: Any,
) -> Callable[[], Any] | None:
    """``ecs:runTask.sync`` as Step Functions runs it: wait until the task stops, then
    fail the state with ``States.TaskFailed`` (the stopped task as the Cause) if a
    container exited non-zero or never started; otherwise the task is the result."""
    ecs = boto_client_for(
        service="ecs", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    submitted: dict = env.stack.pop()
    task_arn: str = submitted["Tasks"][0]["TaskArn"]
    cluster_arn: str = submitted["Tasks"][0]["ClusterArn"]

    def resolve() -> dict | None:
        described = ecs.describe_tasks(cluster=cluster_arn, tasks=[task_arn])
        if described["tasks"][0]["lastStatus"] != "STOPPED":
            return None
        self._normalise_response(response=described, service_action_name="describe_tasks")
        task = ecs_runtime.epoch_millis(described["Tasks"][0])
        if ecs_runtime.task_failed(task):
            raise task_failed(self, env, task)
        return task

    return resolve
