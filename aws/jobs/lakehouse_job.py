"""The lake jobs' entry point: ``spark-submit lakehouse_job.py <task>``.

The ``lake_pipeline`` state machine starts one EMR Serverless job run of this file per
pipeline task (``ingest_dms``, ``bronze``, ``silver``, ``gold``, ``warehouse``, ...)
and waits for it (``emr-serverless:startJobRun.sync``); the ``run_pipeline_task`` Lambda
does the same for state machines that call a function. It runs the task as ``sandbox
run <task>`` does, and exits 1 if the task failed, so the job run ends FAILED with the
error in its log.

Which Spark it runs on:

* under ``spark-submit`` (EMR, EMR Serverless, any Spark cluster: the JVM gateway is in
  ``PYSPARK_GATEWAY_PORT``), the cluster's own ``SparkSession``;
* otherwise Spark Connect: ``SANDBOX_SPARK_URL`` if set, else the sandbox's server
  (locally the endpoint runs this file that way, against the stack).

Everything else comes from the ``SANDBOX_*`` settings, so the same file runs against AWS
with ``SANDBOX_S3_URL=aws`` (the job role's credentials) and ``SANDBOX_WAREHOUSE_URL``.
On EMR Serverless the ``sandbox`` package must be in the image or in a packed virtual
environment (``spark.archives``); see docs/bigger-than-a-laptop.md.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: lakehouse_job.py <task>", file=sys.stderr)
        return 2
    from sandbox.orchestrate.pipeline import Context, run_pipeline
    from sandbox.platform import load_settings

    task = argv[1]
    try:
        settings = load_settings()
        context = Context(settings, print, _spark=cluster_session())
        run = run_pipeline(settings, [task], progress=print, context=context)
    except Exception as exc:  # the job run's stateDetails carry the last lines
        print(f"{task} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for done in run.tasks:  # a layer name ("ingest") runs several tasks
        print(f"{done.name}: {done.result}")
    return 0


def cluster_session() -> object | None:
    """The cluster's ``SparkSession`` when ``spark-submit`` started this file (its JVM
    gateway is in ``PYSPARK_GATEWAY_PORT``); None for Spark Connect."""
    if not os.environ.get("PYSPARK_GATEWAY_PORT") or os.environ.get("SANDBOX_SPARK_URL"):
        return None
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("lakehouse-job").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # the lake is UTC end to end
    return spark


if __name__ == "__main__":
    sys.exit(main(sys.argv))
