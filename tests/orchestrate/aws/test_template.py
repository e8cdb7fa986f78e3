"""``aws/template.yaml``: the one description of the course case, for AWS and for here.

No endpoint: the template passes cfn-lint, every local path it names packages, each
Lambda package is self-contained (it imports only the standard library and what the
Lambda Python runtime provides: boto3 and botocore), and the state machines' placeholders
are all defined by their resource's ``DefinitionSubstitutions``. The deploy through the
endpoint's CloudFormation API is tested in ``test_endpoint.py``.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from sandbox.orchestrate.aws.cfn_extensions import DefinitionError, definition_of
from sandbox.orchestrate.aws.deploy import package, zip_folder
from sandbox.orchestrate.aws.errors import DeployError
from sandbox.orchestrate.aws.template import TEMPLATE, load_template

# What the Lambda Python runtime has besides the standard library:
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html ("The runtime includes
# the AWS SDK for Python (Boto3)"); these are boto3's own dependencies.
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")
RUNTIME_PROVIDED = ("boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3", "six")


def _resources(kind: str) -> dict[str, dict]:
    template = load_template(TEMPLATE)
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_passes_on_the_template_and_fails_a_broken_copy(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("!Ref FailureTopic", "!Ref FailureTopics", 1))
    out = subprocess.run(  # one run for both: cfn-lint takes seconds to start
        [CFN_LINT, "--format", "parseable", str(TEMPLATE), str(broken)],
        capture_output=True,
        text=True,
    )
    findings = out.stdout.splitlines()
    assert not [f for f in findings if f.startswith(str(TEMPLATE))], out.stdout + out.stderr
    assert any(f.startswith(str(broken)) and "FailureTopics" in f for f in findings), out.stdout


def test_account_and_region_come_from_the_pseudo_parameters() -> None:
    text = TEMPLATE.read_text()
    assert "123456789012" not in text and "us-east-1:" not in text
    assert "${AWS::AccountId}" in text and "${AWS::Region}" in text


def test_package_uploads_each_local_path_under_a_content_key() -> None:
    uploads: dict[str, bytes] = {}
    template = load_template(TEMPLATE)
    packaged = package(template, TEMPLATE.parent, uploads.__setitem__, "artifacts")
    for res in packaged["Resources"].values():
        props = res["Properties"]
        if res["Type"] == "AWS::Lambda::Function":
            assert props["Code"]["S3Bucket"] == "artifacts" and props["Code"]["S3Key"] in uploads
        if res["Type"] == "AWS::StepFunctions::StateMachine":
            key = props["DefinitionS3Location"]["Key"]
            json.loads(uploads[key])  # the definition, as uploaded
    # the same files give the same keys (a deploy with no change updates nothing)
    again: dict[str, bytes] = {}
    package(template, TEMPLATE.parent, again.__setitem__, "artifacts")
    assert again.keys() == uploads.keys()


def test_a_missing_local_path_is_named(tmp_path: Path) -> None:
    template = {"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"Code": "x"}}}}
    with pytest.raises(DeployError, match="F names x"):
        package(template, tmp_path, lambda k, b: None, "artifacts")


def test_every_placeholder_of_a_definition_is_substituted() -> None:
    for name, res in _resources("AWS::StepFunctions::StateMachine").items():
        props = res["Properties"]
        text = (TEMPLATE.parent / props["DefinitionS3Location"]).read_text()
        used = set(re.findall(r"\$\{(\w+)\}", text))
        assert used == set(props["DefinitionSubstitutions"]), name
        values = {k: "x" for k in used}
        rendered = definition_of(
            {"DefinitionString": text, "DefinitionSubstitutions": values}, "1", "us-east-1"
        )
        assert "${" not in rendered
    with pytest.raises(DefinitionError, match=r"\['ClusterArn'\]"):
        definition_of({"DefinitionString": '{"a": "${ClusterArn}"}'}, "1", "us-east-1")


def _imports(folder: Path) -> set[str]:
    """Every module a package imports, at any depth of its code (inside functions too)."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("name", sorted(_resources("AWS::Lambda::Function")), ids=lambda n: n)
def test_a_lambda_package_is_self_contained(name: str, tmp_path: Path) -> None:
    res = _resources("AWS::Lambda::Function")[name]
    folder = TEMPLATE.parent / res["Properties"]["Code"]
    own = {p.stem for p in folder.glob("*.py")}
    foreign = _imports(folder) - set(sys.stdlib_module_names) - own - {"boto3", "botocore"}
    assert not foreign, f"{name} imports {sorted(foreign)}, which its package does not carry"
    # and it imports in an empty environment that has only what Lambda's runtime has
    code = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(zip_folder(folder))).extractall(code)
    provided = tmp_path / "runtime"
    provided.mkdir()
    for module in RUNTIME_PROVIDED:
        spec = __import__(module)
        origin = (
            Path(spec.__file__).parent
            if spec.__file__.endswith("__init__.py")
            else Path(spec.__file__)
        )
        (provided / origin.name).symlink_to(origin)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    module, _, function = res["Properties"]["Handler"].rpartition(".")
    probe = (
        f"import sys, {module}\n"
        f"assert callable({module}.{function})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sandbox'))\n"
    )
    out = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", probe],
        cwd=code,
        env={"PYTHONPATH": f"{code}{os.pathsep}{provided}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
