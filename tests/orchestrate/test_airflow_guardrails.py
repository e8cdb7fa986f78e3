"""The DAG's guardrails on real Airflow: a task past its execution_timeout is stopped,
fails, and its failure is told (dags/alerts.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.platform.services.airflow_server import DAGS_FOLDER, airflow_bin

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("airflow") is None,
    reason="needs the airflow dependency group (`uv sync`)",
)

HANGING_DAG = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from alerts import notify_failure
from local_pod import LocalPodOperator

with DAG("hangs", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    LocalPodOperator(
        task_id="hang",
        image="img",
        cmds=[{python!r}, "-c"],
        arguments=["import time; print('working', flush=True); time.sleep(60)"],
        execution_timeout=timedelta(seconds=3),
        retries=0,
        on_failure_callback=notify_failure,
    )
"""


@pytest.mark.slow
@pytest.mark.matrix  # 40 s of Airflow's own start; CI runs it after the default run
def test_a_task_past_its_timeout_fails_and_is_told(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    for helper in ("local_pod.py", "alerts.py", ".airflowignore"):
        shutil.copy(DAGS_FOLDER / helper, dags / helper)
    (dags / "hangs.py").write_text(HANGING_DAG.format(python=sys.executable))
    alerts = tmp_path / "alerts.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAKEHOUSE"))}
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "LAKEHOUSE_ALERTS_FILE": str(alerts),  # no topic: the stand-in
    }
    airflow = str(airflow_bin())
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [airflow, "dags", "test", "hangs"], env=env, capture_output=True, text=True, timeout=300
    )
    log = done.stdout + done.stderr
    assert "working" in log, log[-3000:]  # the child ran, then was stopped
    assert "state=failed" in log, log[-3000:]
    (alert,) = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert alert["dag_id"] == "hangs" and alert["task_id"] == "hang"
    assert "Timeout" in alert["error"], alert


def test_the_alert_is_published_to_the_failure_topic(monkeypatch, tmp_path: Path) -> None:
    """With a topic, the alert is an SNS message (moto in-process: a unit test of the
    callback; the DAG's own run on the local endpoint is the test above's job)."""
    from moto import mock_aws

    sys.path.insert(0, str(DAGS_FOLDER))
    try:
        from alerts import notify_failure
    finally:
        sys.path.remove(str(DAGS_FOLDER))

    class TaskInstance:
        dag_id, task_id, run_id, try_number = "lakehouse_sandbox", "silver", "manual__1", 2

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("LAKEHOUSE_ALERTS_FILE", str(tmp_path / "alerts.jsonl"))
    with mock_aws():
        import boto3

        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="lakehouse-failures")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        monkeypatch.setenv("LAKEHOUSE_FAILURE_TOPIC_ARN", topic)
        notify_failure({"task_instance": TaskInstance(), "exception": ValueError("planted")})
        (received,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    body = json.loads(received["Body"])
    assert body["Subject"] == "lakehouse: silver failed"
    message = json.loads(body["Message"])
    assert message["task_id"] == "silver" and message["error"] == "ValueError: planted"
    assert not (tmp_path / "alerts.jsonl").exists()  # published: no stand-in needed
