"""Reading ``aws/template.yaml``: CloudFormation's YAML, and the dbt task it defines.

Light on purpose (PyYAML only): the dbt helpers read the task definition from here,
without boto3 or moto.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sandbox.orchestrate.aws.errors import DeployError
from sandbox.platform import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "aws" / "template.yaml"
DBT_TASK = "DbtTaskDefinition"


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref X`` is ``{"Ref": "X"}``)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """A template as a dict, its short forms expanded; errors name the file."""
    try:
        template = yaml.load(path.read_text(), Loader=_TemplateLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(f"deploy: cannot read the template {path}: {exc}") from exc
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise DeployError(f"deploy: {path} has no Resources section")
    return template


def camel_keys(value: Any, *, keep: bool = False) -> Any:
    """CloudFormation's PascalCase properties as the API's camelCase; the keys of a log
    driver's ``Options`` are kept as written."""
    if isinstance(value, list):
        return [camel_keys(v, keep=keep) for v in value]
    if isinstance(value, dict) and not keep:
        return {k[:1].lower() + k[1:]: camel_keys(v, keep=k == "Options") for k, v in value.items()}
    return value


def with_defaults(value: Any, parameters: dict[str, Any]) -> Any:
    """``value`` with each ``Ref`` to a parameter and each ``${Parameter}`` of a ``Sub``
    replaced by the parameter's default (pseudo parameters and attributes stay named)."""
    defaults = {k: str(p.get("Default", f"<{k}>")) for k, p in parameters.items()}
    if isinstance(value, list):
        return [with_defaults(v, parameters) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return defaults.get(value["Ref"], f"<{value['Ref']}>")
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text: str = value["Fn::Sub"]
            for name, default in defaults.items():
                text = text.replace("${" + name + "}", default)
            return text
        if set(value) == {"Fn::GetAtt"}:
            return "<{}>".format(".".join(value["Fn::GetAtt"]))
        return {k: with_defaults(v, parameters) for k, v in value.items()}
    return value


def task_definition(path: Path = TEMPLATE, resource: str = DBT_TASK) -> dict[str, Any]:
    """The template's ECS task definition as a RegisterTaskDefinition input (camelCase),
    parameters at their defaults: what the dbt helpers run locally."""
    template = load_template(path)
    found = template["Resources"].get(resource)
    if not found or found.get("Type") != "AWS::ECS::TaskDefinition":
        raise DeployError(f"deploy: {path} has no AWS::ECS::TaskDefinition named {resource}")
    props = with_defaults(found.get("Properties", {}), template.get("Parameters", {}))
    return dict(camel_keys(props))
