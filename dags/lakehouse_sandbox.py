"""The pipeline as an Airflow DAG: one Airflow task per pipeline task, each in its own process.

The task graph comes from ``lakehouse_sandbox.tasks.json``, written from the pipeline's
own definition (``sandbox.orchestrate.pipeline.TASKS``) by ``sandbox airflow export``; a
test fails when the two differ. Each task runs ``sandbox run <task>`` through
``pipeline_task`` below, the one place production differs (see its docstring). Nothing
here knows what a task does: the file needs only Airflow, so it parses on MWAA as well.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

# Airflow's workers put the DAG folder on sys.path; a DagBag loaded elsewhere may not.
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))

from local_pod import LocalPodOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.x, as on MWAA's 2.x environments
    from airflow import DAG

GRAPH = json.loads(Path(__file__).with_name("lakehouse_sandbox.tasks.json").read_text())
IMAGE = "lakehouse-sandbox:latest"  # what production's pods run; locally, this checkout
RETRY_DELAY = timedelta(seconds=float(os.environ.get("SANDBOX_AIRFLOW_RETRY_DELAY_S", "30")))


def pipeline_task(name: str, doc: str):
    """The operator for one pipeline task.

    Production swaps this one call for the pod operator, with the same arguments:

        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
        return KubernetesPodOperator(task_id=name, name=f"lakehouse-{name}", image=IMAGE,
                                     cmds=["sandbox"], arguments=["run", name],
                                     env_vars=..., doc_md=doc)
    """
    return LocalPodOperator(
        task_id=name,
        image=IMAGE,
        cmds=["sandbox"],
        arguments=["run", name],
        # The stack the task works on: this home's ports and folders (a ConfigMap in
        # production).
        # Not Airflow's own login: env_vars show in the UI's rendered fields.
        env_vars={
            k: v
            for k, v in os.environ.items()
            if k.startswith("SANDBOX_") and not k.startswith("SANDBOX_AIRFLOW_")
        },
        doc_md=doc,
    )


with DAG(
    dag_id="lakehouse_sandbox",
    description="raw -> bronze -> silver -> gold -> warehouse -> report",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    max_active_runs=1,  # the tasks share one lake and one warehouse
    default_args={
        "retries": 1,
        "retry_delay": RETRY_DELAY,
    },
    tags=["sandbox"],
) as dag:
    operators = {task["name"]: pipeline_task(task["name"], task["doc"]) for task in GRAPH}
    for task in GRAPH:
        for upstream in task["upstream"]:
            operators[upstream] >> operators[task["name"]]
