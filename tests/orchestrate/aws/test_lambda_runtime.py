"""A handler in its own process, with the real signature and context (no server)."""

from __future__ import annotations

import io
import json
import os
import zipfile

from sandbox.orchestrate.aws.lambda_runtime import invoke

HANDLER = """
import os, time
def handler(event, context):
    print("log line", context.aws_request_id)
    if event.get("fail"):
        raise KeyError("planted")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"event": event, "pid": os.getpid(), "name": context.function_name,
            "arn": context.invoked_function_arn, "memory": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(), "env": os.environ.get("X")}
"""


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def call(event: dict, **kwargs):
    options = {
        "function_name": "f",
        "function_arn": "arn:aws:lambda:us-east-1:1:function:f",
        "timeout_s": 10,
        "environment": {"X": "from-config"},
    } | kwargs
    return invoke(_zip(HANDLER), "app.handler", event, **options)


def test_handler_runs_in_its_own_process_with_context() -> None:
    r = call({"a": 1}, memory_mb=512)
    out = json.loads(r.payload)
    assert not r.errored
    assert out["event"] == {"a": 1} and out["pid"] != os.getpid()
    assert out["name"] == "f" and out["arn"].endswith(":function:f") and out["memory"] == "512"
    assert 0 < out["remaining"] <= 10_000 and out["env"] == "from-config"
    assert f"log line {r.request_id}" in r.log and "REPORT RequestId" in r.log


def test_an_exception_is_the_runtime_error_document() -> None:
    r = call({"fail": True})
    doc = json.loads(r.payload)
    assert r.errored and doc["errorType"] == "KeyError" and "planted" in doc["errorMessage"]
    assert any("raise KeyError" in line for line in doc["stackTrace"])


def test_a_function_sees_lambdas_variables_and_its_own_not_the_hosts(monkeypatch) -> None:
    """Lambda gives a function its runtime's variables and its Environment, nothing
    else: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html"""
    monkeypatch.setenv("HOST_SECRET", "must-not-leak")
    source = "import os\ndef handler(event, context):\n    return dict(os.environ)\n"
    r = invoke(
        _zip(source),
        "app.handler",
        {},
        function_name="f",
        function_arn="arn:aws:lambda:us-east-1:1:function:f",
        environment={"X": "from-config"},
        runtime="python3.11",
    )
    env = json.loads(r.payload)
    assert "HOST_SECRET" not in env and env["X"] == "from-config"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "f" and env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11" and env["LANG"] == "en_US.UTF-8"
    assert env["LAMBDA_TASK_ROOT"] and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"


def test_a_runtime_other_than_python_is_refused_by_name() -> None:
    r = call({}, runtime="nodejs20.x")
    doc = json.loads(r.payload)
    assert r.errored and doc["errorType"] == "Runtime.InvalidRuntime"
    assert "nodejs20.x" in doc["errorMessage"]


def test_a_timeout_kills_the_handler() -> None:
    r = call({"sleep": 30}, timeout_s=1)
    assert r.errored and "timed out after 1.00 seconds" in json.loads(r.payload)["errorMessage"]
