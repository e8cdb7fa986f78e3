"""Deploy the course case to the local endpoint, from the files one would deploy to AWS.

``aws/`` holds them: Lambda functions (``aws/lambdas/<name>/`` with ``function.json``,
zipped as the deployment package), state machines (``aws/stepfunctions/*.asl.json``,
with ``${Name}`` substitutions as SAM's ``DefinitionSubstitutions``), EventBridge
schedule rules (``aws/events/rules.json``) and the raw bucket's object-created
notifications (``aws/s3/notifications.json``). The dbt ECS task definition comes from
the dbt project (``dbt/deploy/task-definition.json``). Deploying twice updates in place.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.orchestrate.aws.clients import aws_client
from sandbox.orchestrate.aws.errors import DeployError
from sandbox.orchestrate.aws.layout import notifications_file
from sandbox.platform import PROJECT_ROOT, Settings

AWS_DIR = PROJECT_ROOT / "aws"
DBT_TASK_DEFINITION = PROJECT_ROOT / "dbt" / "deploy" / "task-definition.json"
CLUSTER = "lakehouse"
FAILURE_TOPIC = "lakehouse-failures"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass
class Deployment:
    """What a deploy created: functions and state machines by name (their ARNs), the
    schedule rules, and the values substituted into the definitions."""

    functions: dict[str, str] = field(default_factory=dict)  # name -> ARN
    state_machines: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # the substitutions


def substitute(text: str, values: dict[str, str], *, source: str) -> str:
    """Replace every ``${Name}``; a name without a value is an error naming the file."""
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise DeployError(
            f"deploy: {source} uses {missing}, which nothing defines (known: {sorted(values)})"
        )
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def package(folder: Path) -> bytes:
    """The deployment package of a function folder: its files, zipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.name != "function.json":
                zf.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()


def _role(settings: Settings, name: str, service: str) -> str:
    iam = aws_client(settings, "iam")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
        created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))
        return created["Role"]["Arn"]


def deploy(
    settings: Settings, *, aws_dir: Path = AWS_DIR, task_definition: Path = DBT_TASK_DEFINITION
) -> Deployment:
    """Create or update everything under ``aws_dir`` on the local endpoint."""
    out = Deployment()
    ec2 = aws_client(settings, "ec2")
    values = {
        "RawBucket": settings.raw_bucket,
        "DmsFolder": settings.dms.bucket_folder,
        "SubnetId": ec2.describe_subnets()["Subnets"][0]["SubnetId"],
        "SecurityGroupId": ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"],
    }
    values["FailureTopicArn"] = aws_client(settings, "sns").create_topic(Name=FAILURE_TOPIC)[
        "TopicArn"
    ]
    cluster = aws_client(settings, "ecs").create_cluster(clusterName=CLUSTER)["cluster"]
    values["ClusterArn"] = cluster["clusterArn"]
    values["DbtTaskDefinitionArn"] = _register_task_definition(settings, task_definition)
    lambda_role = _role(settings, "sandbox-lambda", "lambda.amazonaws.com")
    states_role = _role(settings, "sandbox-states", "states.amazonaws.com")
    machines = sorted((aws_dir / "stepfunctions").glob("*.asl.json"))
    sfn = aws_client(settings, "stepfunctions")
    region_account = f"{settings.s3_region}:123456789012"
    for path in machines:  # ARNs are known before creation: functions may name them
        name = path.name.removesuffix(".asl.json")
        values[_arn_name(name)] = f"arn:aws:states:{region_account}:stateMachine:{name}"
    functions = sorted(p.parent for p in (aws_dir / "lambdas").glob("*/function.json"))
    for folder in functions:
        values[_arn_name(folder.name)] = f"arn:aws:lambda:{region_account}:function:{folder.name}"
    for folder in functions:
        out.functions[folder.name] = _deploy_function(settings, folder, lambda_role, values)
    for path in machines:
        name = path.name.removesuffix(".asl.json")
        definition = substitute(path.read_text(), values, source=str(path))
        _check_json(definition, path)
        arn = values[_arn_name(name)]
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
            sfn.update_state_machine(
                stateMachineArn=arn, definition=definition, roleArn=states_role
            )
        except sfn.exceptions.StateMachineDoesNotExist:
            sfn.create_state_machine(name=name, definition=definition, roleArn=states_role)
        out.state_machines[name] = arn
    out.rules = _deploy_rules(settings, aws_dir / "events" / "rules.json", values, states_role)
    _deploy_notifications(settings, aws_dir / "s3" / "notifications.json", values)
    out.values = values
    return out


def _arn_name(name: str) -> str:
    """``lake_pipeline`` -> ``LakePipelineArn``: the substitution naming a resource."""
    return "".join(part.capitalize() for part in re.split(r"[_\-]", name)) + "Arn"


def _check_json(text: str, path: Path) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeployError(f"deploy: {path} is not valid JSON after substitution: {exc}") from exc


def _register_task_definition(settings: Settings, path: Path) -> str:
    if not path.exists():
        raise DeployError(f"deploy: the dbt ECS task definition {path} is missing")
    spec = _check_json(path.read_text(), path)
    spec = {k: v for k, v in spec.items() if k not in ("taskDefinitionArn", "revision", "status")}
    for container in spec.get("containerDefinitions", []):
        # the local ECS needs a container-level memory figure; Fargate takes the task's
        container.setdefault("memory", int(spec.get("memory", 512)))
    ecs = aws_client(settings, "ecs")
    return ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]


def _deploy_function(settings: Settings, folder: Path, role: str, values: dict[str, str]) -> str:
    config = _check_json(
        substitute(
            (folder / "function.json").read_text(), values, source=str(folder / "function.json")
        ),
        folder,
    )
    env = (
        settings.as_env()
        | {"SANDBOX_HOME": str(settings.runtime_dir)}
        | config.get("Environment", {})
    )
    lam = aws_client(settings, "lambda")
    common = {
        "Role": role,
        "Handler": config["Handler"],
        "Runtime": config.get("Runtime", "python3.11"),
        "Timeout": int(config.get("Timeout", 60)),
        "MemorySize": int(config.get("MemorySize", 256)),
        "Description": config.get("Description", ""),
        "Environment": {"Variables": env},
    }
    code = package(folder)
    try:
        lam.get_function(FunctionName=folder.name)
        lam.update_function_code(FunctionName=folder.name, ZipFile=code)
        arn = lam.update_function_configuration(FunctionName=folder.name, **common)["FunctionArn"]
    except lam.exceptions.ResourceNotFoundException:
        arn = lam.create_function(FunctionName=folder.name, Code={"ZipFile": code}, **common)[
            "FunctionArn"
        ]
    if "ReservedConcurrentExecutions" in config:
        lam.put_function_concurrency(
            FunctionName=folder.name,
            ReservedConcurrentExecutions=int(config["ReservedConcurrentExecutions"]),
        )
    else:  # taken out of function.json: the function is unreserved again
        lam.delete_function_concurrency(FunctionName=folder.name)
    return arn


def _deploy_rules(settings: Settings, path: Path, values: dict[str, str], role: str) -> list[str]:
    if not path.exists():
        return []
    events = aws_client(settings, "events")
    rules = _check_json(substitute(path.read_text(), values, source=str(path)), path)
    names = []
    for rule in rules:
        target = values.get(_arn_name(rule["Target"]))
        if target is None:
            raise DeployError(
                f"deploy: rule {rule['Name']} in {path} targets "
                f"{rule['Target']!r}, which is not deployed"
            )
        events.put_rule(
            Name=rule["Name"],
            ScheduleExpression=rule["ScheduleExpression"],
            State=rule.get("State", "ENABLED"),
            Description=rule.get("Description", ""),
        )
        events.put_targets(
            Rule=rule["Name"],
            Targets=[
                {
                    "Id": rule["Target"],
                    "Arn": target,
                    "RoleArn": role,
                    "Input": json.dumps(rule.get("Input", {})),
                }
            ],
        )
        names.append(rule["Name"])
    return names


def _deploy_notifications(settings: Settings, path: Path, values: dict[str, str]) -> None:
    if not path.exists():
        return
    rules = _check_json(substitute(path.read_text(), values, source=str(path)), path)
    resolved = [
        {
            "id": r["Id"],
            "bucket": r["Bucket"],
            "prefix": r.get("Prefix", ""),
            "suffix": r.get("Suffix", ""),
            "function_arn": values[_arn_name(r["Function"])],
        }
        for r in rules
    ]
    target = notifications_file(settings.runtime_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(resolved, indent=1))
