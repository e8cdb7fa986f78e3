"""What moto's CloudFormation lacks for ``aws/template.yaml``, added to the local endpoint.

The template deploys unchanged to AWS and here, so the endpoint's CloudFormation must
take what AWS takes (moto 5.2 reads less):

* ``AWS::StepFunctions::StateMachine``: ``DefinitionS3Location`` (the object
  ``aws cloudformation package`` uploaded), ``Definition`` (an object) and
  ``DefinitionSubstitutions`` (each ``${Name}`` replaced; a name without a value is an
  error, as on AWS). moto reads ``DefinitionString`` only.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-stepfunctions-statemachine.html
* ``AWS::ECS::TaskDefinition``: the task's ``Cpu``, ``NetworkMode``,
  ``RequiresCompatibilities`` and roles (moto keeps the family, containers and memory).
* ``AWS::EMRServerless::Application``: not in moto's CloudFormation; ``Ref`` is the
  application id, ``GetAtt`` gives ``ApplicationId`` and ``Arn``, as documented in
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-emrserverless-application.html
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.ecs.models import TaskDefinition, ecs_backends
from moto.emrserverless.models import emrserverless_backends
from moto.s3.models import s3_backends
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.responses import get_backend as stepfunctions_backend
from moto.utilities.utils import get_partition

from sandbox.orchestrate.aws.template import camel_keys

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


class DefinitionError(ValueError):
    """A state machine's definition that CloudFormation would refuse."""


def install() -> None:
    """Patch moto's CloudFormation models in this process. Idempotent."""
    if getattr(StateMachine, "_sandbox_cfn", False):
        return
    StateMachine.create_from_cloudformation_json = classmethod(_create_state_machine)
    StateMachine.update_from_cloudformation_json = classmethod(_update_state_machine)
    StateMachine.delete_from_cloudformation_json = classmethod(_delete_state_machine)
    StateMachine._sandbox_cfn = True
    TaskDefinition.create_from_cloudformation_json = classmethod(_create_task_definition)
    TaskDefinition.update_from_cloudformation_json = classmethod(_update_task_definition)
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()  # EmrServerlessApplication is a new model: list them again


# -- Step Functions ---------------------------------------------------------------------


def definition_of(properties: dict[str, Any], account_id: str, region: str) -> str:
    """The definition a state machine resource gives, substitutions applied."""
    if "DefinitionString" in properties:
        text = properties["DefinitionString"]
    elif "Definition" in properties:
        text = json.dumps(properties["Definition"])
    elif "DefinitionS3Location" in properties:
        where = properties["DefinitionS3Location"]
        backend = s3_backends[account_id][get_partition(region)]
        text = backend.get_object(where["Bucket"], where["Key"]).value.decode()
    else:
        raise DefinitionError(
            "StateMachine: one of DefinitionString, Definition or DefinitionS3Location is needed"
        )
    values = {k: str(v) for k, v in (properties.get("DefinitionSubstitutions") or {}).items()}
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise DefinitionError(
            f"StateMachine: the definition uses {missing}, which DefinitionSubstitutions "
            f"does not define (it defines {sorted(values)})"
        )
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _create_state_machine(
    cls: type,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> StateMachine:
    properties = cloudformation_json["Properties"]
    backend = stepfunctions_backend(account_id, region_name)  # the executing one
    return backend.create_state_machine(
        properties.get("StateMachineName", resource_name),
        definition_of(properties, account_id, region_name),
        properties.get("RoleArn", ""),
        tags=[{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])],
    )


def _update_state_machine(
    cls: type,
    original_resource: StateMachine,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> StateMachine:
    properties = cloudformation_json.get("Properties", {})
    backend = stepfunctions_backend(account_id, region_name)  # the executing one
    name = properties.get("StateMachineName", original_resource.name)
    if name != original_resource.name:  # a new name replaces the machine
        backend.delete_state_machine(original_resource.arn)
        return _create_state_machine(cls, name, cloudformation_json, account_id, region_name)
    return backend.update_state_machine(
        original_resource.arn,
        definition=definition_of(properties, account_id, region_name),
        role_arn=properties.get("RoleArn"),
    )


def _delete_state_machine(
    cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
) -> None:
    stepfunctions_backend(account_id, region_name).delete_state_machine(resource_name)


# -- ECS task definitions ---------------------------------------------------------------


def _create_task_definition(
    cls: type,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> TaskDefinition:
    p = cloudformation_json["Properties"]
    containers = camel_keys(p.get("ContainerDefinitions", []))
    for container in containers:  # moto wants a container figure; Fargate takes the task's
        container.setdefault("memory", int(p.get("Memory", 512)))
    return ecs_backends[account_id][region_name].register_task_definition(
        family=p.get("Family", resource_name),
        container_definitions=containers,
        volumes=camel_keys(p.get("Volumes", [])),
        network_mode=p.get("NetworkMode"),
        requires_compatibilities=p.get("RequiresCompatibilities"),
        cpu=p.get("Cpu"),
        memory=p.get("Memory"),
        task_role_arn=p.get("TaskRoleArn"),
        execution_role_arn=p.get("ExecutionRoleArn"),
    )


def _update_task_definition(
    cls: type,
    original_resource: TaskDefinition,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> TaskDefinition:
    # A task definition is immutable: CloudFormation registers a new revision
    return _create_task_definition(
        cls, new_resource_name, cloudformation_json, account_id, region_name
    )


# -- EMR Serverless ---------------------------------------------------------------------


class EmrServerlessApplication(CloudFormationModel):
    """``AWS::EMRServerless::Application``: a resource moto's CloudFormation lacks."""

    def __init__(self, application: Any) -> None:
        self.application = application

    @property
    def physical_resource_id(self) -> str:
        return str(self.application.id)

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EMRServerless::Application"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ApplicationId", "Arn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "ApplicationId":
            return str(self.application.id)
        return str(self.application.arn)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EmrServerlessApplication:
        p = cloudformation_json["Properties"]
        backend = emrserverless_backends[account_id][region_name]
        application = backend.create_application(
            name=p.get("Name", resource_name),
            release_label=p["ReleaseLabel"],
            application_type=p["Type"],
            client_token=resource_name,
            initial_capacity=p.get("InitialCapacity"),
            maximum_capacity=p.get("MaximumCapacity"),
            tags=None,
            auto_start_configuration=camel_keys(p.get("AutoStartConfiguration")),
            auto_stop_configuration=camel_keys(p.get("AutoStopConfiguration")),
            network_configuration=camel_keys(p.get("NetworkConfiguration")),
        )
        return cls(application)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> EmrServerlessApplication:
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> None:
        emrserverless_backends[account_id][region_name].delete_application(resource_name)
