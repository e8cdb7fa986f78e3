"""The pipeline as an Airflow DAG: one Airflow task per pipeline task, same definition.

Airflow only schedules; each task calls ``sandbox.orchestrate.pipeline.run_pipeline`` for its own
name, so the CLI, the notebooks, the tests and Airflow run the same code. In
production each task would run in its own pod (KubernetesPodOperator with the same
call); locally a PythonOperator is enough. Airflow is not a dependency of the sandbox:
install it next to it to use this file.
"""

from __future__ import annotations

from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator

from sandbox.orchestrate.pipeline import TASKS


def run_task(name: str) -> None:
    from sandbox.orchestrate.pipeline import run_pipeline
    from sandbox.platform.settings import load_settings

    run_pipeline(load_settings(), [name], progress=print)


with DAG(
    dag_id="lakehouse_sandbox",
    description="raw -> bronze -> silver -> gold -> warehouse -> report",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["sandbox"],
) as dag:
    operators = {
        task.name: PythonOperator(
            task_id=task.name, python_callable=run_task, op_kwargs={"name": task.name}, doc=task.doc
        )
        for task in TASKS
    }
    for task in TASKS:
        for upstream in task.upstream:
            operators[upstream] >> operators[task.name]
