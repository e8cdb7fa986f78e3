"""The pipeline as an Airflow DAG: one Airflow task per pipeline task, each in its own process.

The task graph comes from ``lakehouse_sandbox.tasks.json``, written from the pipeline's
own definition (``sandbox.orchestrate.pipeline.TASKS``) by ``sandbox airflow export``; a
test fails when the two differ. Each task runs ``sandbox run <task>`` through
``pipeline_task`` below, the one place production differs. Nothing here knows what a
task does: the file needs only Airflow (and, in production, the cncf.kubernetes
provider), so it parses on MWAA as well.

The switch, read when the file is parsed: ``LAKEHOUSE_TASK_OPERATOR=kubernetes`` (set
in production's Airflow environment) runs every task as a Kubernetes pod of ``IMAGE``;
unset (or ``local``), as here, each task is a process of this checkout
(``LocalPodOperator``, same arguments).
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

from alerts import notify_failure
from local_pod import LocalPodOperator

try:
    from airflow.sdk import DAG, CronDataIntervalTimetable
except ImportError:  # Airflow 2.x, as on MWAA's 2.x environments
    from airflow import DAG
    from airflow.timetables.interval import CronDataIntervalTimetable

GRAPH = json.loads(Path(__file__).with_name("lakehouse_sandbox.tasks.json").read_text())
# What production's pods run, pinned: the one place the image is named (locally each task
# runs this checkout instead).
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lakehouse-sandbox:0.1.0"
OPERATOR = os.environ.get("LAKEHOUSE_TASK_OPERATOR", "local")
# Production's pods: their namespace and service account, and the settings and secrets
# they read (by reference: no value is in this file or in Airflow's rendered fields).
NAMESPACE = "lakehouse"
SERVICE_ACCOUNT = "lakehouse-pipeline"
SETTINGS_CONFIG_MAP = "lakehouse-settings"  # the SANDBOX_* settings of production
SECRETS = "lakehouse-secrets"  # the passwords and keys
MEMORY_LIMIT = "4Gi"  # a task's memory limit, its pod's and its local process's


def seconds_from(variable: str, default: float) -> timedelta:
    """A duration from the environment; a value that is no positive number names itself."""
    raw = os.environ.get(variable, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{variable}={raw!r}: expected a number of seconds above 0")
    return timedelta(seconds=value)


RETRY_DELAY = seconds_from("SANDBOX_AIRFLOW_RETRY_DELAY_S", 30)
# Guardrails: a task that hangs is stopped and failed (then retried once), a run that
# hangs is failed, and every failure is told (alerts.notify_failure).
TASK_TIMEOUT = seconds_from("SANDBOX_AIRFLOW_TASK_TIMEOUT_S", 1800)
RUN_TIMEOUT = timedelta(hours=3)
# The Spark jobs share one Spark: one at a time (`sandbox airflow up` creates the pool).
SPARK_POOL = "spark"
SPARK_TASKS = {"bronze", "silver", "gold"}
# A scheduled or backfilled run builds gold from the facts up to its data interval's end
# (`sandbox run --as-of`), so the run for a past day gives that day's gold whenever it
# runs. A manual trigger has no interval to honour: it builds from everything up to now.
AS_OF = "{{ data_interval_end if dag_run.run_type != 'manual' else '' }}"
ARGUMENTS = ["--as-of", AS_OF]


def pipeline_task(name: str, doc: str):
    """The operator for one pipeline task: a pod in production, a process here."""
    if OPERATOR == "kubernetes":
        return kubernetes_task(name, doc)
    if OPERATOR != "local":
        raise ValueError(f"LAKEHOUSE_TASK_OPERATOR={OPERATOR!r}: use 'kubernetes' or 'local'")
    return LocalPodOperator(
        task_id=name,
        image=IMAGE,
        cmds=["sandbox"],
        arguments=["run", name, *ARGUMENTS],
        # The stack the task works on: this home's ports and folders (a ConfigMap in
        # production).
        # Not Airflow's own login: env_vars show in the UI's rendered fields.
        env_vars={
            k: v
            for k, v in os.environ.items()
            if k.startswith("SANDBOX_") and not k.startswith("SANDBOX_AIRFLOW_")
        },
        memory_limit=MEMORY_LIMIT,
        doc_md=doc,
    )


def kubernetes_task(name: str, doc: str):
    """The task as production runs it: ``sandbox run <task>`` in a pod of ``IMAGE``."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    return KubernetesPodOperator(
        task_id=name,
        name=f"lakehouse-{name.replace('_', '-')}",
        namespace=NAMESPACE,
        service_account_name=SERVICE_ACCOUNT,
        image=IMAGE,
        cmds=["sandbox"],
        arguments=["run", name, *ARGUMENTS],
        env_from=[
            k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=SETTINGS_CONFIG_MAP)),
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=SECRETS)),
        ],
        # Spark runs in the pod's driver: room for a day of data, and a hard memory cap.
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "1", "memory": "2Gi"}, limits={"cpu": "2", "memory": MEMORY_LIMIT}
        ),
        labels={"app": "lakehouse", "pipeline-task": name},
        get_logs=True,  # the pod's output in the task's log
        on_finish_action="delete_succeeded_pod",  # a failed pod stays for a look
        startup_timeout_seconds=600,  # pulling the image on a new node
        doc_md=doc,
    )


with DAG(
    dag_id="lakehouse_sandbox",
    description="raw -> bronze -> silver -> gold -> warehouse -> report",
    # Daily: the marts are daily (and monthly) aggregates, so a day is the smallest
    # interval that changes one, and a run a day is what the warehouse's readers need.
    # Data intervals, explicitly (Airflow 3 would read "@daily" as a trigger time with no
    # interval): the run for a day starts when the day ends, its interval is that day.
    # Not catchup: a new deployment runs the last day only; older days are a backfill
    # (`airflow backfill create`), each run with its own interval.
    start_date=datetime(2025, 1, 1),
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,  # the tasks share one lake and one warehouse
    dagrun_timeout=RUN_TIMEOUT,
    default_args={
        "retries": 1,
        "retry_delay": RETRY_DELAY,
        "execution_timeout": TASK_TIMEOUT,
        "on_failure_callback": notify_failure,
    },
    tags=["sandbox"],
) as dag:
    operators = {task["name"]: pipeline_task(task["name"], task["doc"]) for task in GRAPH}
    for name, operator in operators.items():
        if name in SPARK_TASKS:
            operator.pool = SPARK_POOL
    for task in GRAPH:
        for upstream in task["upstream"]:
            operators[upstream] >> operators[task["name"]]
