"""The DAG's failure alert: a failed task is published to the pipeline's failure topic.

Production sets ``LAKEHOUSE_FAILURE_TOPIC_ARN`` (and the worker's role may publish to
it); the sandbox sets it to the local AWS endpoint's ``lakehouse-failures`` topic and
``AWS_ENDPOINT_URL`` to the endpoint. When no topic is set, or the endpoint does not
run, the alert is appended to ``LAKEHOUSE_ALERTS_FILE`` (the sandbox: ``<home>/alerts.jsonl``)
and logged as an error, so a failure is never told to nobody.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

log = logging.getLogger(__name__)


def alert_message(context) -> dict:
    """What the alert says: which task of which run failed, why, and where its log is."""
    ti = context["task_instance"]
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "try_number": ti.try_number,
        "error": f"{type(context.get('exception')).__name__}: {context.get('exception')}",
        "at": datetime.now(UTC).isoformat(),
    }


def notify_failure(context) -> None:
    """Airflow's ``on_failure_callback`` for every task of the DAG."""
    message = alert_message(context)
    topic = os.environ.get("LAKEHOUSE_FAILURE_TOPIC_ARN")
    if topic:
        try:
            import boto3

            boto3.client("sns").publish(
                TopicArn=topic,
                Subject=f"lakehouse: {message['task_id']} failed",
                Message=json.dumps(message),
            )
            log.error("failure alert published to %s: %s", topic, message)
            return
        except Exception as exc:  # the alert must not fail in turn: fall back, say why
            log.error("could not publish the failure alert to %s: %s", topic, exc)
    path = os.environ.get("LAKEHOUSE_ALERTS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(message) + "\n")
    log.error("FAILURE ALERT (no topic reached): %s", message)
