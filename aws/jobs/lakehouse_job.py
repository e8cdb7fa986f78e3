"""The lake jobs' entry point: ``spark-submit lakehouse_job.py <task>``.

The state machine's ``run_pipeline_task`` Lambda starts one EMR Serverless job run of
this file per pipeline task (``ingest_dms``, ``bronze``, ``silver``, ``gold``,
``warehouse``, ...). It runs the task as ``sandbox run <task>`` does, and exits 1 if
the task failed, so the job run ends FAILED with the error in its log.

Locally the endpoint runs it with this project's environment, against the stack's Spark
Connect server. It does not yet run on AWS as written: EMR Serverless would need a custom
image with the ``sandbox`` package (the template's application names none) and the
pipeline would need to take the cluster's own ``SparkSession`` and real S3 endpoints
instead of the sandbox's ``host:port`` services (issue #35, every endpoint as a URL).
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
    for done in run.tasks:  # a layer name ("ingest") runs several tasks
        print(f"{done.name}: {done.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
