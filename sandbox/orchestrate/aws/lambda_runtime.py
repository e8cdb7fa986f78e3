"""Run a deployed Lambda handler in its own process, the way the Python runtime does.

The deployment package (the zip given to ``CreateFunction``) is unpacked once per
code hash; a fresh Python process imports ``<module>.<function>`` from it and calls
``handler(event, context)`` with a context object that has the real attributes. What
the handler prints is the invocation's log; the return value (JSON) is the result; an
exception becomes the runtime's error document (``errorMessage``, ``errorType``,
``stackTrace``), and a timeout kills the process, as Lambda does.

The process sees only what Lambda gives a function: the runtime's variables
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html: ``_HANDLER``,
``AWS_LAMBDA_*``, ``LAMBDA_TASK_ROOT``, ``AWS_EXECUTION_ENV``, ``LANG``, ``TZ``, ``PATH``)
and the function's ``Environment``; nothing of the host's. Only ``python3.*`` runtimes
run, on the sandbox's own Python.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sandbox.platform.tether import tethered

# Per user, mode 700 and owned by them: a cache shared in /tmp would let another user
# swap a handler before it runs (or make every unpack fail).
CODE_CACHE = Path(tempfile.gettempdir()) / f"sandbox-lambda-code-{os.getuid()}"
# Lambda's PATH for Python runtimes, after this environment's bin (its python).
LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"


@dataclass
class Invocation:
    """What one invocation returned: the payload, whether it failed, and its log."""

    payload: str
    errored: bool
    log: str
    request_id: str
    duration_ms: float


def unpack(code_zip: bytes) -> Path:
    """The folder holding this deployment package, unpacked once per content hash."""
    from sandbox.platform.private import private_dir  # the parent's side only

    private_dir(CODE_CACHE)
    folder = CODE_CACHE / hashlib.sha256(code_zip).hexdigest()[:16]
    if not folder.exists():
        staging = Path(tempfile.mkdtemp(dir=CODE_CACHE, prefix=".unpack-"))
        zipfile.ZipFile(io.BytesIO(code_zip)).extractall(staging)
        with contextlib.suppress(OSError):  # another invocation unpacked it first
            staging.rename(folder)
        shutil.rmtree(staging, ignore_errors=True)  # left only if the rename lost
    return folder


def invoke(
    code_zip: bytes,
    handler: str,
    event: object,
    *,
    function_name: str,
    function_arn: str,
    version: str = "$LATEST",
    memory_mb: int = 128,
    timeout_s: float = 3.0,
    environment: dict[str, str] | None = None,
    log_group: str = "",
    log_stream: str = "",
    runtime: str = "python3.11",
) -> Invocation:
    """Invoke ``handler`` from ``code_zip`` with ``event`` in a new Python process."""
    request_id = str(uuid.uuid4())
    if runtime and not runtime.startswith("python3"):
        doc = {
            "errorMessage": f"runtime {runtime!r} does not run in the sandbox: python3.x only",
            "errorType": "Runtime.InvalidRuntime",
        }
        return Invocation(json.dumps(doc), True, doc["errorMessage"] + "\n", request_id, 0.0)
    folder = unpack(code_zip)
    result_file = Path(tempfile.mkstemp(prefix="lambda-result-")[1])
    env = (
        {
            "PATH": os.pathsep.join(
                [str(Path(sys.executable).parent), "/usr/local/bin:/usr/bin:/bin"]
            ),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_RUNTIME_DIR": sys.prefix,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime or 'python3.11'}",
        }
        | (environment or {})
        | {
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(folder),
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "SANDBOX_LAMBDA_ARN": function_arn,
            "SANDBOX_LAMBDA_REQUEST_ID": request_id,
            "SANDBOX_LAMBDA_DEADLINE_MS": str(int((time.time() + timeout_s) * 1000)),
            "SANDBOX_LAMBDA_RESULT": str(result_file),
        }
    )
    started = time.perf_counter()
    argv, fds = tethered([sys.executable, "-m", "sandbox.orchestrate.aws.lambda_runtime"])
    proc = subprocess.Popen(  # in its own session, dying with the endpoint
        argv,
        cwd=folder,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=fds,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(json.dumps(event), timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the handler and anything it started
        out, _ = proc.communicate()
        timed_out = True
    duration_ms = (time.perf_counter() - started) * 1000
    log = f"START RequestId: {request_id} Version: {version}\n{out or ''}"
    if timed_out:
        payload = json.dumps(
            {
                "errorMessage": f"Task timed out after {timeout_s:.2f} seconds",
                "errorType": "Sandbox.Timedout",
            }
        )
        errored = True
    else:
        text = result_file.read_text() if result_file.stat().st_size else ""
        if text:
            doc = json.loads(text)
            payload, errored = doc["payload"], doc["errored"]
        else:  # the process died before writing a result
            payload = json.dumps(
                {
                    "errorMessage": f"Runtime exited with code {proc.returncode}",
                    "errorType": "Runtime.ExitError",
                }
            )
            errored = True
    result_file.unlink(missing_ok=True)
    log += (
        f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\t"
        f"Duration: {duration_ms:.2f} ms\tMemory Size: {memory_mb} MB\n"
    )
    return Invocation(payload, errored, log, request_id, duration_ms)


class LambdaContext:
    """The ``context`` argument of a Python handler, with the attributes AWS gives it."""

    def __init__(self) -> None:
        env = os.environ
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = env["SANDBOX_LAMBDA_ARN"]
        self.memory_limit_in_mb = env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = env["SANDBOX_LAMBDA_REQUEST_ID"]
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(env["SANDBOX_LAMBDA_DEADLINE_MS"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _bootstrap() -> None:
    """The runtime inside the invocation's process: import, call, write the result."""
    import importlib

    result = Path(os.environ["SANDBOX_LAMBDA_RESULT"])
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    module_name, _, function = os.environ["_HANDLER"].rpartition(".")
    try:
        event = json.loads(sys.stdin.read() or "{}")
        fn = getattr(importlib.import_module(module_name), function)
        value = fn(event, LambdaContext())
        doc = {"payload": json.dumps(value, default=str), "errored": False}
    except Exception as exc:  # the runtime reports any error of the handler
        lines = traceback.format_exception(exc)
        print("".join(lines), flush=True)
        error = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": [line.rstrip("\n") for line in lines],
        }
        doc = {"payload": json.dumps(error), "errored": True}
    sys.stdout.flush()
    result.write_text(json.dumps(doc))


if __name__ == "__main__":
    _bootstrap()
