"""Lambda: run one task of the lake pipeline as an EMR Serverless job run, and wait for it.

The state machine calls it once per step with ``{"task": "<name>"}``. It starts a job
run of the lake jobs' entry point (``JOB_ENTRY_POINT``, arguments ``[task]``) on the
application ``EMR_APPLICATION_ID`` with the role ``JOB_ROLE_ARN``, polls ``GetJobRun``
until the run ends, and fails with ``JobRunFailed`` (the error name Step Functions
sees) if it did not succeed. Near its own timeout it cancels the run rather than leave
it behind. Self-contained: it imports the standard library and boto3 (which the Lambda
runtime provides), so the same package runs on AWS and on the local endpoint.

Why EMR Serverless and not EMR steps: one job run per task needs no cluster to keep
up or size, its state machine is four states (SUBMITTED, RUNNING, SUCCESS/FAILED), and
the application stops itself when idle.
"""

from __future__ import annotations

import os
import re
import time

import boto3

TERMINAL = ("SUCCESS", "FAILED", "CANCELLED")
POLL_SECONDS = float(os.environ.get("JOB_POLL_SECONDS", "1"))
MARGIN_MS = 15_000  # left to cancel the run before the function's own timeout


class JobRunFailed(Exception):
    """The task's job run ended in FAILED or CANCELLED."""


def handler(event, context):
    task = event.get("task")
    if not isinstance(task, str) or not re.fullmatch(r"[a-z][a-z_]*", task):
        raise ValueError(f"the event needs a task name like 'bronze', got {task!r}")
    emr = boto3.client("emr-serverless")
    application = os.environ["EMR_APPLICATION_ID"]
    run_id = emr.start_job_run(
        applicationId=application,
        executionRoleArn=os.environ["JOB_ROLE_ARN"],
        clientToken=context.aws_request_id,
        name=f"{task}-{context.aws_request_id}"[:64],
        jobDriver={
            "sparkSubmit": {
                "entryPoint": os.environ["JOB_ENTRY_POINT"],
                "entryPointArguments": [task],
            }
        },
    )["jobRunId"]
    print(f"{task}: job run {run_id} on application {application}")
    while True:
        run = emr.get_job_run(applicationId=application, jobRunId=run_id)["jobRun"]
        if run["state"] in TERMINAL:
            break
        if context.get_remaining_time_in_millis() < MARGIN_MS:
            emr.cancel_job_run(applicationId=application, jobRunId=run_id)
            raise JobRunFailed(
                f"{task}: job run {run_id} cancelled, the function is about to time out"
            )
        time.sleep(POLL_SECONDS)
    seconds = run.get("totalExecutionDurationSeconds", 0)
    print(f"{task}: job run {run_id} {run['state']} after {seconds} s")
    if run["state"] != "SUCCESS":
        raise JobRunFailed(
            f"{task}: job run {run_id} {run['state']}: {run.get('stateDetails', '')}"
        )
    return {"task": task, "jobRunId": run_id, "seconds": seconds}
