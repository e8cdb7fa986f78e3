"""The lake jobs' entry point: ``spark-submit lakehouse_job.py <task>``.

The state machine's ``run_pipeline_task`` Lambda starts one EMR Serverless job run of
this file per pipeline task (``ingest_dms``, ``bronze``, ``silver``, ``gold``,
``warehouse``, ...). It runs the task as ``sandbox run <task>`` does, and exits 1 if
the task failed, so the job run ends FAILED with the error in its log.

It needs the ``sandbox`` package on the driver's Python path: on EMR Serverless, a
custom image built from this project (``FROM public.ecr.aws/emr-serverless/spark/emr-7.5.0``
plus ``pip install .``); on the local endpoint, this project's environment.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: lakehouse_job.py <task>", file=sys.stderr)
        return 2
    from sandbox.orchestrate.pipeline import run_pipeline
    from sandbox.platform import load_settings

    task = argv[1]
    try:
        run = run_pipeline(load_settings(), [task], progress=print)
    except Exception as exc:  # the job run's stateDetails carry the last lines
        print(f"{task} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{task}: {run.result(task)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
