"""EMR Serverless job-run states on the local endpoint, without an endpoint.

A run that reaches its ``executionTimeoutMinutes`` goes CANCELLING -> CANCELLED: "The
CancelJobRun API has requested job run cancellation, or the job run has timed out"
(https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/job-states.html).
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from sandbox.orchestrate.aws import emr_runtime


def _driver(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _run(timeout_minutes: float) -> SimpleNamespace:
    return SimpleNamespace(
        id=f"run-{timeout_minutes}",
        application_id="app",
        execution_timeout_minutes=timeout_minutes,
        state="SUBMITTED",
        state_details="",
    )


def test_a_run_past_its_execution_timeout_is_cancelled_not_failed(monkeypatch) -> None:
    monkeypatch.setattr(emr_runtime, "_send", lambda stream, lines: None)
    seen: list[str] = []
    run = _run(0.5 / 60)  # half a second
    original = emr_runtime._stop

    def stop(process, grace_s=10.0):  # the state while the driver is being stopped
        seen.append(run.state)
        original(process, grace_s)

    monkeypatch.setattr(emr_runtime, "_stop", stop)
    emr_runtime._follow(run, _driver("import time; print('working', flush=True); time.sleep(30)"))
    assert seen == ["CANCELLING"]
    assert run.state == "CANCELLED"
    assert "timed out" in run.state_details


def test_a_run_that_exits_non_zero_in_time_fails(monkeypatch) -> None:
    monkeypatch.setattr(emr_runtime, "_send", lambda stream, lines: None)
    run = _run(1)
    emr_runtime._follow(run, _driver("print('bad row'); raise SystemExit(4)"))
    assert run.state == "FAILED"
    assert "ExitCode: 4" in run.state_details and "bad row" in run.state_details
