"""Deploy ``aws/template.yaml`` to the local endpoint, as CloudFormation deploys it on AWS.

The template is the only description of the course case's resources (state machines,
Lambda functions, IAM roles, the SNS topic, the schedule, the raw bucket's
notification, the dbt ECS task definition, the EMR Serverless application). On AWS:

    aws cloudformation package --template-file aws/template.yaml \\
        --s3-bucket <artifacts> --output-template-file packaged.yaml
    aws cloudformation deploy --template-file packaged.yaml --stack-name lakehouse-course \\
        --capabilities CAPABILITY_IAM --parameter-overrides ArtifactsBucketName=<artifacts> ...

Here :func:`deploy` does the same two steps against the endpoint: :func:`package`
uploads each local path the template names (a function's ``Code``, a state machine's
``DefinitionS3Location``) to the endpoint's artifacts bucket under a content-hashed key
and rewrites the property, as ``package`` does; then the stack is created or updated
through the endpoint's CloudFormation API. The jobs' entry point is copied next to the
code (``aws s3 cp aws/jobs/lakehouse_job.py s3://<artifacts>/jobs/`` on AWS).

One thing goes around the API: the raw bucket lives on the stack's S3 server, not on
the endpoint, so its notification configuration (read from the deployed template) is
written to a file the endpoint watches (:mod:`sandbox.orchestrate.aws.layout`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.orchestrate.aws.clients import aws_client
from sandbox.orchestrate.aws.errors import DeployError
from sandbox.orchestrate.aws.layout import notifications_file
from sandbox.orchestrate.aws.template import TEMPLATE, load_template
from sandbox.platform import PROJECT_ROOT, Settings

AWS_DIR = PROJECT_ROOT / "aws"
STACK = "lakehouse-course"
ARTIFACTS_BUCKET = "lakehouse-artifacts"
JOB_ENTRY_POINT = AWS_DIR / "jobs" / "lakehouse_job.py"
WAREHOUSE_SECRET = "lakehouse/warehouse/dbt"
_DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")


@dataclass
class Deployment:
    """What a deploy created: functions and state machines by name (their ARNs), the
    schedule rules, and the stack's parameters and outputs by name."""

    functions: dict[str, str] = field(default_factory=dict)  # name -> ARN
    state_machines: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)


# -- package ---------------------------------------------------------------------------


def zip_folder(folder: Path) -> bytes:
    """A function folder as its deployment package (stable bytes for the same files)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def package(template: dict[str, Any], base: Path, upload: Any, bucket: str) -> dict[str, Any]:
    """``aws cloudformation package`` for the two properties the template uses: each local
    path is uploaded (``upload(key, bytes)``) and replaced by its S3 location."""
    out = json.loads(json.dumps(template))
    for logical, resource in out["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Lambda::Function" and isinstance(props.get("Code"), str):
            key = _put(upload, "lambdas", _local(base, props["Code"], logical), bucket)
            props["Code"] = {"S3Bucket": bucket, "S3Key": key}
        if kind == "AWS::StepFunctions::StateMachine" and isinstance(
            props.get("DefinitionS3Location"), str
        ):
            key = _put(
                upload,
                "stepfunctions",
                _local(base, props["DefinitionS3Location"], logical),
                bucket,
            )
            props["DefinitionS3Location"] = {"Bucket": bucket, "Key": key}
    return out


def _local(base: Path, relative: str, logical: str) -> Path:
    path = (base / relative).resolve()
    if not path.exists():
        raise DeployError(f"deploy: {logical} names {relative}, which is not in {base}")
    return path


def _put(upload: Any, prefix: str, path: Path, bucket: str) -> str:
    body = zip_folder(path) if path.is_dir() else path.read_bytes()
    if path.suffix == ".json":
        _check_json(body.decode(), path)
    digest = hashlib.sha256(body).hexdigest()[:16]
    key = f"{prefix}/{path.name}-{digest}" + (".zip" if path.is_dir() else "")
    upload(key, body)
    return key


def _check_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeployError(f"deploy: {path} is not valid JSON: {exc}") from exc


# -- deploy ----------------------------------------------------------------------------


def local_parameters(settings: Settings) -> dict[str, str]:
    """The template's parameters for this sandbox (on AWS: ``--parameter-overrides``)."""
    ec2 = aws_client(settings, "ec2")
    secrets = aws_client(settings, "secretsmanager")
    try:
        secret = secrets.describe_secret(SecretId=WAREHOUSE_SECRET)["ARN"]
    except secrets.exceptions.ResourceNotFoundException:
        # Not the password: the local ECS runtime connects with the sandbox's own
        # settings and never reads the secret, so the endpoint holds no credential.
        placeholder = "unused locally: the dbt task connects with the sandbox's settings"
        secret = secrets.create_secret(Name=WAREHOUSE_SECRET, SecretString=placeholder)["ARN"]
    return {
        "ArtifactsBucketName": ARTIFACTS_BUCKET,
        "RawBucketName": settings.raw_bucket,
        "LakeBucketName": settings.lake_bucket,
        "DmsFolder": settings.dms.bucket_folder,
        "SubnetId": ec2.describe_subnets()["Subnets"][0]["SubnetId"],
        "SecurityGroupId": ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"],
        "WarehouseHost": settings.host,
        "WarehousePort": str(settings.postgres_port),
        "WarehouseDatabase": settings.warehouse_db,
        "WarehouseUser": settings.postgres_user,
        "WarehouseSecretArn": secret,
    }


def deploy(
    settings: Settings,
    *,
    template_path: Path = TEMPLATE,
    parameters: dict[str, str] | None = None,
    stack_name: str = STACK,
) -> Deployment:
    """Package and create (or update) the stack on the local endpoint; what it holds."""
    s3 = aws_client(settings, "s3")
    try:
        s3.head_bucket(Bucket=ARTIFACTS_BUCKET)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)

    def upload(key: str, body: bytes) -> None:
        s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body)

    template = load_template(template_path)
    packaged = package(template, template_path.parent, upload, ARTIFACTS_BUCKET)
    upload(f"jobs/{JOB_ENTRY_POINT.name}", JOB_ENTRY_POINT.read_bytes())
    values = local_parameters(settings) | (parameters or {})
    declared = template.get("Parameters", {})
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items() if k in declared]
    stack = _apply(settings, stack_name, json.dumps(packaged), params)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    out = Deployment(values=values | outputs)
    cfn = aws_client(settings, "cloudformation")
    for res in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]:
        kind, physical = res["ResourceType"], res.get("PhysicalResourceId", "")
        if kind == "AWS::Lambda::Function":
            fn = aws_client(settings, "lambda").get_function(FunctionName=physical)
            out.functions[physical] = fn["Configuration"]["FunctionArn"]
        elif kind == "AWS::StepFunctions::StateMachine":
            out.state_machines[physical.rsplit(":", 1)[-1]] = physical
        elif kind == "AWS::Events::Rule":
            out.rules.append(physical.rsplit("/", 1)[-1])
    _write_notifications(settings, packaged, out)
    return out


def _apply(settings: Settings, name: str, body: str, params: list[dict]) -> dict[str, Any]:
    cfn = aws_client(settings, "cloudformation")
    caps = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
    try:
        cfn.describe_stacks(StackName=name)
        exists = True
    except cfn.exceptions.ClientError:
        exists = False
    try:
        if exists:
            cfn.update_stack(
                StackName=name, TemplateBody=body, Parameters=params, Capabilities=caps
            )
        else:
            cfn.create_stack(
                StackName=name, TemplateBody=body, Parameters=params, Capabilities=caps
            )
    except cfn.exceptions.ClientError as exc:
        if "No updates are to be performed" not in str(exc):
            raise DeployError(f"deploy: stack {name}: {exc}") from exc
    stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] not in _DONE:
        raise DeployError(
            f"deploy: stack {name} is {stack['StackStatus']}: {stack.get('StackStatusReason', '')}"
        )
    return stack


def _write_notifications(settings: Settings, template: dict[str, Any], out: Deployment) -> None:
    """The raw bucket's Lambda notifications, resolved, for the endpoint to watch."""
    rules = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource.get("Type") != "AWS::S3::Bucket":
            continue
        bucket = _resolve(props.get("BucketName"), out)
        for i, config in enumerate(
            props.get("NotificationConfiguration", {}).get("LambdaConfigurations", [])
        ):
            filters = {
                r["Name"].lower(): _resolve(r["Value"], out)
                for r in config.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            }
            rules.append(
                {
                    "id": f"{bucket}-{i}",
                    "bucket": bucket,
                    "prefix": filters.get("prefix", ""),
                    "suffix": filters.get("suffix", ""),
                    "function_arn": _resolve(config["Function"], out),
                }
            )
    target = notifications_file(settings.runtime_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(rules, indent=1))


def _resolve(value: Any, out: Deployment) -> str:
    """The few intrinsic forms a bucket notification uses, against the deployed stack."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return out.values[value["Ref"]]
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text: str = value["Fn::Sub"]
        for name, v in out.values.items():
            text = text.replace("${" + name + "}", v)
        return text
    if "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        logical = value["Fn::GetAtt"][0]
        if f"{logical}Arn" in out.values:
            return out.values[f"{logical}Arn"]
    raise DeployError(f"deploy: cannot resolve {value} in the raw bucket's notification")
