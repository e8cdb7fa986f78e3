"""Lambda: start the lake pipeline when DMS lands a new file in the raw bucket.

Subscribed to the raw bucket's object-created notifications (``dms/`` prefix). A
batch of DMS files arrives as several events; one execution at a time is enough, so
an event that finds an execution running is recorded and skipped. S3 invokes a
function asynchronously, so several events can run at once: the function reserves a
concurrency of 1 (``function.json``), so they run one after the other and the check
sees the execution the previous one started.
"""

from __future__ import annotations

import json
import os

import boto3


def handler(event, context):
    keys = [r["s3"]["object"]["key"] for r in event.get("Records", [])]
    machine = os.environ["PIPELINE_STATE_MACHINE_ARN"]
    sfn = boto3.client("stepfunctions")
    running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
    if running:
        print(f"pipeline already running ({running[0]['name']}); new objects: {keys}")
        return {"started": None, "objects": keys}
    name = f"s3-{context.aws_request_id}"
    arn = sfn.start_execution(
        stateMachineArn=machine, name=name, input=json.dumps({"trigger": "s3", "objects": keys})
    )["executionArn"]
    print(f"started {arn} for {keys}")
    return {"started": arn, "objects": keys}
