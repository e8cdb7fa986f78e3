"""Lambda: run one task of the lake pipeline (``ingest_dms``, ``bronze``, ``silver``, ...).

The state machine calls it once per step with ``{"task": "<name>"}``. In production
this function would start the EMR step or Glue job of that task; locally it runs the
same pipeline task the CLI and the Airflow DAG run, against the sandbox's services.
"""

from __future__ import annotations

import json


def handler(event, context):
    from sandbox.orchestrate.pipeline import TASKS, run_pipeline
    from sandbox.platform.settings import load_settings

    task = event.get("task")
    known = [t.name for t in TASKS]
    if task not in known:
        raise ValueError(f"unknown pipeline task {task!r}; expected one of {known}")
    print(f"{context.function_name} {context.aws_request_id}: running {task}")
    run = run_pipeline(load_settings(), [task], progress=print)
    result = run.result(task)
    print(json.dumps({"task": task, "result": result}, default=str))
    return {"task": task, "seconds": run.tasks[-1].seconds, "result": result}
