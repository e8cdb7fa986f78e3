"""EMR Serverless job runs on the local endpoint: each ``StartJobRun`` runs its entry point.

moto records a job run and answers ``SUCCESS`` at once. Here ``StartJobRun`` fetches the
``sparkSubmit`` entry point from the endpoint's S3 (where ``sandbox aws deploy`` put
it, as ``aws s3 cp`` does for AWS) and runs it as a process of this project's Python,
with the sandbox's variables, so its Spark session is the stack's Spark Connect server.
``GetJobRun`` then reports the states EMR Serverless reports
(https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/job-states.html):
``SUBMITTED`` -> ``RUNNING`` -> ``SUCCESS`` on exit 0, ``FAILED`` otherwise (its
``stateDetails`` with the exit code and the last lines of output), ``CANCELLED`` after
``CancelJobRun`` (SIGTERM, then SIGKILL), and ``CANCELLING`` -> ``CANCELLED`` when the
run reaches its ``executionTimeoutMinutes`` (the page's "or the job run has timed
out"). ``ListJobRuns`` of an application with no run yet is an empty list (moto answers
ResourceNotFound). The driver's output goes to CloudWatch Logs, group
``/aws/emr-serverless``, stream ``applications/<app>/jobs/<run>/SPARK_DRIVER/stdout``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from moto.emrserverless.exceptions import ValidationException
from moto.emrserverless.models import EMRServerlessBackend
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from sandbox.orchestrate.aws import cloudwatch, ecs_runtime
from sandbox.platform import PROJECT_ROOT
from sandbox.platform.tether import tethered

log = logging.getLogger(__name__)
LOG_GROUP = "/aws/emr-serverless"
TERMINAL = ("SUCCESS", "FAILED", "CANCELLED")
_PROCESSES: dict[str, subprocess.Popen[str]] = {}  # job run id -> its driver
_CANCELLED: set[str] = set()
_TIMED_OUT: set[str] = set()


def install() -> None:
    """Patch moto's EMR Serverless backend in this process. Idempotent."""
    if getattr(EMRServerlessBackend, "_sandbox_patched", False):
        return
    original = EMRServerlessBackend.start_job_run

    def start_job_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        # what cannot run is refused before moto records a run (its runs start SUCCESS)
        script = _entry_point(self, kwargs.get("job_driver"))
        try:
            run = original(self, *args, **kwargs)
        except BaseException:
            shutil.rmtree(script[0].parent, ignore_errors=True)
            raise
        try:
            _start(run, script)
        except OSError as exc:  # the driver could not start: the run fails, as on EMR
            run.state, run.state_details = "FAILED", f"Job failed to start: {exc}"
            shutil.rmtree(script[0].parent, ignore_errors=True)
        return run

    EMRServerlessBackend.start_job_run = start_job_run
    original_list = EMRServerlessBackend.list_job_runs

    def list_job_runs(self: Any, application_id: str, *args: Any, **kwargs: Any) -> Any:
        # moto answers ResourceNotFound for an application that has no run yet
        if application_id in self.applications and application_id not in self.job_runs:
            return []
        return original_list(self, application_id, *args, **kwargs)

    EMRServerlessBackend.list_job_runs = list_job_runs
    EMRServerlessBackend.cancel_job_run = _cancel
    EMRServerlessBackend._sandbox_patched = True


def _entry_point(backend: Any, job_driver: dict | None) -> tuple[Path, list[str]]:
    submit = (job_driver or {}).get("sparkSubmit")
    if not submit or not submit.get("entryPoint"):
        raise ValidationException("only sparkSubmit job drivers run on the local endpoint")
    return entry_point_file(backend, submit["entryPoint"]), list(
        submit.get("entryPointArguments", [])
    )


def entry_point_file(backend: Any, entry_point: str) -> Path:
    """The entry point's object, fetched from the endpoint's S3 into a file of its own."""
    if not entry_point.startswith("s3://"):
        raise ValidationException(f"entryPoint must be an s3:// URI, got {entry_point!r}")
    bucket, _, key = entry_point.removeprefix("s3://").partition("/")
    s3 = s3_backends[backend.account_id][get_partition(backend.region_name)]
    try:
        body = s3.get_object(bucket, key).value
    except Exception as exc:
        raise ValidationException(f"entryPoint {entry_point} could not be read: {exc}") from exc
    folder = Path(tempfile.mkdtemp(prefix="emr-job-"))
    path = folder / Path(key).name
    path.write_bytes(body)
    return path


def _start(run: Any, entry: tuple[Path, list[str]]) -> None:
    script, arguments = entry
    run.state = "SUBMITTED"
    driver = [sys.executable, str(script), *arguments]
    runner = _runner_socket()
    if runner is not None:  # the warm runner runs the driver without the cold start
        driver = [sys.executable, "-m", "sandbox.orchestrate.warm_client", runner]
        driver += [str(script), *arguments]
    argv, fds = tethered(driver)  # dies with us
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=ecs_runtime.sandbox_env() | {"EMR_SERVERLESS_JOB_RUN_ID": run.id},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",  # a job may print any bytes; the watcher must not die of them
        pass_fds=fds,
        start_new_session=True,
    )
    _PROCESSES[run.id] = process
    threading.Thread(target=_watch, args=(run, process, script.parent), daemon=True).start()


def _runner_socket() -> str | None:
    """The home's warm runner, when it listens: a job's driver then starts warm, as
    a plain `sandbox run` does (EMR's own start-up is not emulated either way)."""
    from sandbox.platform import load_settings

    settings = load_settings()
    path = settings.run_dir / "runner.sock"
    return str(path) if settings.warm_runner and path.exists() else None


def _watch(run: Any, process: subprocess.Popen[str], folder: Path) -> None:
    try:
        _follow(run, process)
    except Exception as exc:  # never leave a run RUNNING: it would be waited on forever
        log.exception("job run %s: following its driver failed", run.id)
        _stop(process)
        run.state, run.state_details = "FAILED", f"the local runtime lost the job: {exc}"
    finally:
        _PROCESSES.pop(run.id, None)
        shutil.rmtree(folder, ignore_errors=True)


def _follow(run: Any, process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    started = time.monotonic()
    run.state = "RUNNING"
    stream = f"applications/{run.application_id}/jobs/{run.id}/SPARK_DRIVER/stdout"
    timeout_s = run.execution_timeout_minutes * 60
    timer = threading.Timer(timeout_s, _time_out, args=(run, process))
    timer.daemon = True
    timer.start()
    tail: deque[str] = deque(maxlen=5)
    batch: list[str] = []
    for line in process.stdout:
        batch.append(line.rstrip("\n"))
        tail.append(batch[-1])
        if len(batch) >= 50:
            _send(stream, batch)
            batch = []
    code = process.wait()
    timer.cancel()
    _send(stream, batch)
    elapsed = time.monotonic() - started
    run.total_execution_duration_seconds = max(1, round(elapsed))
    if run.id in _TIMED_OUT:
        _TIMED_OUT.discard(run.id)
        run.state = "CANCELLED"
        run.state_details = f"Job run timed out after {run.execution_timeout_minutes} minutes"
    elif run.id in _CANCELLED:
        run.state, run.state_details = "CANCELLED", "Job run was cancelled by the user"
    elif code == 0:
        run.state = "SUCCESS"
    else:
        run.state = "FAILED"
        exit_code = 128 - code if code < 0 else code
        run.state_details = (
            "Job failed, please check complete logs in configured logging destination. "
            f"ExitCode: {exit_code}. Last lines: " + " | ".join(tail)
        )


def _send(stream: str, lines: list[str]) -> None:
    if lines:
        try:
            cloudwatch.put_log_lines(LOG_GROUP, stream, lines)
        except Exception:  # the log must never change the job's outcome
            log.exception("could not write the job run's log to %s", stream)


def _stop(process: subprocess.Popen[str], grace_s: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _time_out(run: Any, process: subprocess.Popen[str]) -> None:
    _TIMED_OUT.add(run.id)
    run.state = "CANCELLING"
    _stop(process)


def _cancel(self: Any, application_id: str, job_run_id: str) -> tuple[str, str]:
    run = self.get_job_run(application_id, job_run_id)
    if run.state not in TERMINAL:
        _CANCELLED.add(job_run_id)
        run.state = "CANCELLING"
        process = _PROCESSES.get(job_run_id)
        if process is not None:
            threading.Thread(target=_stop, args=(process,), daemon=True).start()
    return application_id, job_run_id
