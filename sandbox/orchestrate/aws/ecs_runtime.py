"""Run an ECS task's container as a local process, the way the task definition says.

The container's ``command`` (after ``containerOverrides``) is executed from the
project root with, in this order: the sandbox's own variables (the project's venv first
on ``PATH``), the container's ``environment``, its ``secrets`` (read from the endpoint's
Secrets Manager and SSM Parameter Store; one that cannot be read fails the task before
it starts, as on ECS), the host's connection to the sandbox's warehouse (what
:func:`sandbox.orchestrate.dbt.dbt_env` gives, in place of the Redshift endpoint and
the password the template's secret holds on AWS), and the overrides' ``environment``.
So the dbt image's ``["dbt", "build", "--target", "prod"]`` runs the project's dbt
against the local warehouse. What it prints goes to the container's ``awslogs`` group and stream
(``<awslogs-stream-prefix>/<container>/<task id>``), as the awslogs driver writes it.

A task stops as ECS stops it: when an essential container (``essential`` is true unless
set false) exits, the task's other containers are sent SIGTERM, then SIGKILL after the
container's ``stopTimeout`` (30 s by default); ``StopTask`` does the same to all of
them. A container killed by a signal reports ``128 + signal`` (137 after SIGKILL), as
Docker reports it. A command that cannot be started leaves no exit code, and the task
stops with ``TaskFailedToStart``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.platform import PROJECT_ROOT
from sandbox.platform.tether import tethered

# ECS's default for a container without ``stopTimeout``: SIGKILL 30 s after SIGTERM.
DEFAULT_STOP_TIMEOUT_S = 30.0

# (group, stream, lines): where a task's output goes.
LogSink = Callable[[str, str, list[str]], None]


@dataclass
class ContainerRun:
    """One container of one task, running or stopped."""

    task_id: str
    container: str
    argv: list[str]
    log_group: str | None
    log_stream: str | None
    essential: bool = True
    stop_timeout_s: float = 30.0
    process: subprocess.Popen | None = None
    exit_code: int | None = None
    reason: str = ""
    started: bool = True  # False: the command could not be started (no exit code)
    output: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.done.is_set()


def start_container(
    task_id: str,
    container_def: dict,
    override: dict | None,
    *,
    base_env: dict[str, str],
    host_env: Callable[[dict[str, str]], dict[str, str]] = lambda env: {},
    log_sink: LogSink,
    secret: Callable[[str], str] | None = None,
) -> ContainerRun:
    """Start the container's command as a process; the run is updated when it exits.

    ``secret(valueFrom)`` reads each of the container's ``secrets`` (Secrets Manager or
    SSM Parameter Store, see :func:`secret_reader`); one that cannot be read stops the
    task before its container starts, as ECS does."""
    override = override or {}
    command = override.get("command") or container_def.get("command") or []
    env = dict(base_env)
    for item in container_def.get("environment", []):
        env[item["name"]] = item["value"]
    unreadable = None
    for item in container_def.get("secrets", []):
        try:
            env[item["name"]] = (secret or _no_secrets)(item["valueFrom"])
        except SecretUnavailable as exc:
            unreadable = f"ResourceInitializationError: {exc}"
            break
    env.update(host_env(env))
    for item in override.get("environment", []):
        env[item["name"]] = item["value"]
    log_config = container_def.get("logConfiguration") or {}
    options = log_config.get("options", {}) if log_config.get("logDriver") == "awslogs" else {}
    group = options.get("awslogs-group")
    prefix = options.get("awslogs-stream-prefix", "ecs")
    name = container_def.get("name", "container")
    run = ContainerRun(
        task_id,
        name,
        list(command),
        group,
        f"{prefix}/{name}/{task_id}" if group else None,
        essential=container_def.get("essential", True) is not False,
        stop_timeout_s=float(container_def.get("stopTimeout") or DEFAULT_STOP_TIMEOUT_S),
    )
    exe = shutil.which(command[0], path=env.get("PATH")) if command else None
    if exe is None or unreadable:
        run.started = False
        run.reason = unreadable or (
            f"CannotStartContainerError: {command[:1]} not found in the container's PATH"
        )
        run.output.append(run.reason)
        _flush(run, log_sink)
        run.done.set()
        return run
    argv, fds = tethered([exe, *command[1:]])  # its own session; dies with the endpoint
    run.process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=fds,
        start_new_session=True,
    )
    threading.Thread(target=_watch, args=(run, log_sink), daemon=True).start()
    return run


def _watch(run: ContainerRun, log_sink: LogSink) -> None:
    assert run.process is not None and run.process.stdout is not None
    batch: list[str] = []
    for line in run.process.stdout:
        run.output.append(line.rstrip("\n"))
        batch.append(line.rstrip("\n"))
        if len(batch) >= 50:
            _send(run, log_sink, batch)
            batch = []
    code = run.process.wait()
    run.exit_code = 128 - code if code < 0 else code  # killed by a signal: 128 + signal
    _send(run, log_sink, batch)
    run.done.set()


def stop_containers(runs: list[ContainerRun]) -> None:
    """Stop every running container as ECS does: SIGTERM, then SIGKILL after its
    ``stopTimeout``. Returns at once; each run ends when its process does."""
    for run in runs:
        if run.running and run.process is not None:
            threading.Thread(target=_stop, args=(run,), daemon=True).start()


def _stop(run: ContainerRun) -> None:
    assert run.process is not None
    for sig, wait_s in ((signal.SIGTERM, run.stop_timeout_s), (signal.SIGKILL, None)):
        try:
            os.killpg(run.process.pid, sig)  # its own session: the whole container
        except ProcessLookupError:
            return
        if run.done.wait(wait_s):
            return


def _flush(run: ContainerRun, log_sink: LogSink) -> None:
    _send(run, log_sink, run.output)


def _send(run: ContainerRun, log_sink: LogSink, lines: list[str]) -> None:
    if run.log_group and run.log_stream and lines:
        log_sink(run.log_group, run.log_stream, list(lines))


def sandbox_env() -> dict[str, str]:
    """The variables every local container starts from: ours, minus the AWS endpoint's,
    with this environment's ``bin`` first on ``PATH`` (where ``dbt`` is)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def warehouse_env(container_env: dict[str, str]) -> dict[str, str]:
    """The sandbox's warehouse connection for a container, for the target it asks for."""
    from sandbox.orchestrate.dbt import TARGETS, dbt_env
    from sandbox.platform import load_settings

    target = container_env.get("DBT_TARGET", "prod")
    return dbt_env(
        load_settings(), target=target if target in TARGETS and target != "ci" else "prod"
    )


def epoch_millis(value: Any) -> Any:
    """Timestamps as Step Functions writes them in a task's description: epoch millis."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: epoch_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [epoch_millis(v) for v in value]
    return value


def task_failed(task: dict) -> bool:
    """Whether ``ecs:runTask.sync`` fails on this stopped task (DescribeTasks casing):
    a container that exited non-zero, essential or not, or that never started."""
    containers = task.get("Containers") or task.get("containers") or []
    codes = [c.get("ExitCode", c.get("exitCode")) for c in containers]
    return not codes or any(code != 0 for code in codes)


class SecretUnavailable(Exception):
    """A container's ``secrets`` entry names nothing the endpoint can read."""


def _no_secrets(value_from: str) -> str:
    raise SecretUnavailable(f"no secret store to read {value_from}")


def secret_reader(account: str, region: str) -> Callable[[str], str]:
    """``valueFrom`` -> its value, from the endpoint's Secrets Manager (a secret's ARN,
    optionally ``:json-key:version-stage:version-id``) or SSM Parameter Store (a
    parameter's ARN or name). Failures read as ECS words them in a stopped task's
    reason (public captures: aws/copilot-cli#2095, aws-samples/dataops-platform-airflow-dbt#12):
    ``unable to pull secrets or registry auth: execution resource retrieval failed: ...``.
    """
    import json

    from moto.secretsmanager.models import secretsmanager_backends
    from moto.ssm.models import ssm_backends

    prefix = "unable to pull secrets or registry auth: execution resource retrieval failed"

    def read(value_from: str) -> str:
        if value_from.startswith("arn:aws:secretsmanager:"):
            parts = value_from.split(":")
            arn, (key, stage, version) = ":".join(parts[:7]), [*parts[7:], "", "", ""][:3]
            try:
                found = secretsmanager_backends[account][region].get_secret_value(
                    arn, version or None, stage or None
                )
                text = found["SecretString"]
                return str(json.loads(text)[key]) if key else text
            except Exception as exc:
                raise SecretUnavailable(
                    f"{prefix}: unable to retrieve secret from asm: service call has been "
                    f"retried 1 time(s): failed to fetch secret {arn} from secrets manager: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        name = value_from.split(":parameter", 1)[1] if ":parameter" in value_from else value_from
        param = ssm_backends[account][region].get_parameter(name)
        if param is None:
            raise SecretUnavailable(
                f"{prefix}: unable to retrieve secrets from ssm: service call has been "
                f"retried 1 time(s): invalid parameters: {name}"
            )
        return str(param.decrypt(param.value))  # ECS decrypts a SecureString

    return read
