"""Step Functions' optimized EMR Serverless integration, which moto's interpreter lacks.

moto's port of the ASL interpreter lists ``emr-serverless`` as unsupported. This adds
the two job-run APIs of the optimized integration
(https://docs.aws.amazon.com/step-functions/latest/dg/connect-emr-serverless.html):

* ``arn:aws:states:::emr-serverless:startJobRun`` starts a job run and returns what
  ``StartJobRun`` returns (``ApplicationId``, ``JobRunId``, ``Arn``);
* ``arn:aws:states:::emr-serverless:startJobRun.sync`` does the same and then waits for
  the run to end (the "Run a Job" pattern,
  https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-sync).
  ``SUCCESS`` gives the same output; ``FAILED`` or ``CANCELLED`` (EMR Serverless's
  terminal states,
  https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/job-states.html)
  fail the state with ``States.TaskFailed``, the job run as ``GetJobRun`` describes it
  as the Cause, as every ``.sync`` job integration reports a failed job;
* ``arn:aws:states:::emr-serverless:cancelJobRun`` cancels one.

Parameters are written as in ASL (``ApplicationId``, ``JobDriver.SparkSubmit``) and
results come back in the same casing. An API error is ``EMRServerless.<its code>``.
``.waitForTaskToken`` is refused when the state machine is created, as AWS refuses it.
The job runs themselves are :mod:`sandbox.orchestrate.aws.emr_runtime`'s.
"""

from __future__ import annotations

import botocore.session
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

SERVICE = "emr-serverless"
TERMINAL = ("SUCCESS", "FAILED", "CANCELLED")
# The request fields of each API, as the integration's table lists them.
_PARAMETERS: dict[str, set[str]] = {
    "startjobrun": {
        "ApplicationId",
        "ClientToken",
        "ConfigurationOverrides",
        "ExecutionRoleArn",
        "ExecutionTimeoutMinutes",
        "JobDriver",
        "Name",
        "Tags",
    },
    "canceljobrun": {"ApplicationId", "JobRunId"},
}


def install() -> None:
    """Route ``emr-serverless`` Task states to this integration. Idempotent."""
    original = state_task_factory.state_task_service_for
    if getattr(original, "_sandbox_patched", False):
        return

    def state_task_service_for(service_name: str):
        if service_name == SERVICE:
            return StateTaskServiceEmrServerless()
        return original(service_name)

    state_task_service_for._sandbox_patched = True  # type: ignore[attr-defined]
    state_task_factory.state_task_service_for = state_task_service_for


def task_failed(state, env, cause: object) -> FailureEventException:
    """What a ``.sync`` job integration raises when its job ended unsuccessfully:
    ``States.TaskFailed``, the job's description as the Cause (ECS's and EMR's alike)."""
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    resource=state._get_sfn_resource(),
                    resourceType=state._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesTaskFailed.to_name(),
                    cause=to_json_str(cause),
                )
            ),
        )
    )


def _operation(action: str):
    name = "".join(part[:1].upper() + part[1:] for part in action.split("_"))
    return botocore.session.get_session().get_service_model(SERVICE).operation_model(name)


class StateTaskServiceEmrServerless(StateTaskServiceCallback):
    """The optimized integration's ``startJobRun`` (with ``.sync``) and ``cancelJobRun``."""

    def __init__(self) -> None:
        # The token pattern is listed only so that the interpreter sets up its endpoint
        # (it closes it after every pattern); definitions asking for it are refused.
        super().__init__(
            supported_integration_patterns={
                ResourceCondition.Sync,
                ResourceCondition.WaitForTaskToken,
            }
        )

    def _get_supported_parameters(self):
        if self.resource.condition == ResourceCondition.WaitForTaskToken:
            return None  # "The resource provided ... not recognized", at creation
        if self.resource.condition is not None and self.resource.api_action != "startJobRun":
            return None  # only startJobRun has a .sync
        return _PARAMETERS.get(self.resource.api_action.lower())

    def _client(self, region: str, credentials):
        return boto_client_for(service=SERVICE, region=region, state_credentials=credentials)

    def _from_error(self, env, ex):
        if isinstance(ex, ClientError):
            name = f"EMRServerless.{ex.response['Error']['Code']}"
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(name),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=name,
                        cause=ex.response["Error"].get("Message", ""),
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):
        action = self._get_boto_service_action()
        operation = _operation(action)
        self._to_boto_request(normalised_parameters, operation.input_shape)
        client = self._client(resource_runtime_part.region, state_credentials)
        response = getattr(client, action)(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        self._from_boto_response(response, operation.output_shape)
        env.stack.append(response)

    def _eval_sync(self, **kwargs):
        # no task token in .sync: wait on the job run only (see moto_extensions' ECS note)
        return super()._eval_sync(**(kwargs | {"callback_endpoint": None}))

    def _build_sync_resolver(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):
        started = env.stack.pop()
        client = self._client(resource_runtime_part.region, state_credentials)
        describe = _operation("get_job_run").output_shape

        def resolve():
            described = client.get_job_run(
                applicationId=started["ApplicationId"], jobRunId=started["JobRunId"]
            )
            if described["jobRun"]["state"] not in TERMINAL:
                return None
            if described["jobRun"]["state"] == "SUCCESS":
                return started
            described.pop("ResponseMetadata", None)
            self._from_boto_response(described, describe)
            raise task_failed(self, env, described["JobRun"])

        return resolve
