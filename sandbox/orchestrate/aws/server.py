"""The local AWS endpoint: ``python -m sandbox.orchestrate.aws.server --host H --port P``.

moto's server with real ASL execution and the extensions of
:mod:`sandbox.orchestrate.aws.moto_extensions`, plus the event loop that makes the
account live while the sandbox runs:

* EventBridge rules with a ``ScheduleExpression`` fire their targets (state machines,
  Lambda functions) on time;
* S3 object-created notifications (``<home>/aws/s3-notifications.json``, written by
  ``sandbox aws deploy``) invoke their function with an S3 event when an object lands
  in the real raw bucket;
* each finished execution's history is written to CloudWatch Logs
  (``/aws/vendedlogs/states/<state machine>``, one stream per execution).

``SANDBOX_AWS_CLOCK_SPEED`` (default 1) runs schedules faster than real time: at 60,
``rate(1 minute)`` fires every second (for a class demo, and the tests).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.orchestrate.aws import (
    cfn_extensions,
    cloudwatch,
    emr_runtime,
    guard,
    moto_extensions,
    sfn_emr_serverless,
)
from sandbox.orchestrate.aws.errors import ScheduleError
from sandbox.orchestrate.aws.layout import notifications_file
from sandbox.orchestrate.aws.schedules import next_fire, scheduled_event

log = logging.getLogger("sandbox.aws")
ACCOUNT = "123456789012"  # moto's default account


class EventLoop:
    """Schedules, S3 triggers and execution logs, checked once a second."""

    def __init__(self, region: str, *, clock_speed: float = 1.0, runtime_dir: Path) -> None:
        self.region = region
        self.clock_speed = clock_speed
        self.runtime_dir = runtime_dir
        self.started = datetime.now(UTC)
        self._next: dict[str, tuple[str, datetime | None]] = {}  # rule -> (expression, next)
        self._seen_objects: dict[str, set[str]] = {}
        self._logged: set[str] = set()
        self.stop = threading.Event()

    def now(self) -> datetime:
        """Sandbox time: real time, sped up by ``clock_speed`` since the loop started."""
        real = datetime.now(UTC)
        return self.started + (real - self.started) * self.clock_speed

    def run(self) -> None:
        while not self.stop.wait(1.0 / max(1.0, min(self.clock_speed, 10.0))):
            for step in (self.fire_schedules, self.fire_s3_notifications, self.log_executions):
                try:
                    step()
                except Exception:  # one bad rule or object must not stop the loop
                    log.exception("event loop: %s failed", step.__name__)

    # -- EventBridge schedules ------------------------------------------------------

    def fire_schedules(self) -> None:
        events = cloudwatch.client("events")
        now = self.now()
        for rule in events.list_rules().get("Rules", []):
            expression = rule.get("ScheduleExpression")
            if not expression or rule.get("State") != "ENABLED":
                continue
            try:  # one rule that cannot be read must not keep the others from firing
                self._fire_rule(events, rule, expression, now)
            except Exception:  # tried again next tick: a failure here changes no schedule
                log.exception("rule %s (%s)", rule["Name"], expression)

    def _fire_rule(self, events: Any, rule: dict, expression: str, now: datetime) -> None:
        name = rule["Name"]
        known = self._next.get(name)
        if known is None or known[0] != expression:
            self._next[name] = (expression, self._next_fire(name, expression, now, now))
            return
        due = known[1]
        if due is None or now < due:  # None: it never fires again (its years are past)
            return
        self._next[name] = (expression, self._next_fire(name, expression, now, due))
        event = scheduled_event(rule["Arn"], ACCOUNT, self.region, due)
        for target in events.list_targets_by_rule(Rule=name).get("Targets", []):
            payload = target.get("Input") or json.dumps(event)
            try:  # each target on its own, as EventBridge delivers them
                self._deliver(target["Arn"], payload, source=f"rule {name}")
            except Exception:
                log.exception("rule %s: delivery to %s failed", name, target["Arn"])

    @staticmethod
    def _next_fire(name: str, expression: str, now: datetime, since: datetime) -> datetime | None:
        try:
            return next_fire(expression, now, created=since)
        except ScheduleError as exc:  # put before PutRule refused it: it never fires
            log.error("rule %s will not fire: %s", name, exc)
            return None

    def _deliver(self, arn: str, payload: str, *, source: str) -> None:
        if ":states:" in arn:
            name = f"{source.split()[-1]}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"[:80]
            cloudwatch.client("stepfunctions").start_execution(
                stateMachineArn=arn, name=name, input=payload
            )
        elif ":lambda:" in arn:
            cloudwatch.client("lambda").invoke(
                FunctionName=arn, InvocationType="Event", Payload=payload.encode()
            )
        else:
            log.warning("%s: target %s is not a state machine or a function", source, arn)
            return
        log.info("%s fired %s", source, arn)

    # -- S3 object-created notifications ---------------------------------------------

    def fire_s3_notifications(self) -> None:
        path = notifications_file(self.runtime_dir)
        if not path.exists():
            return
        from sandbox.platform import load_settings
        from sandbox.platform.services import s3_client

        s3 = s3_client(load_settings())
        for rule in json.loads(path.read_text()):
            bucket, prefix = rule["bucket"], rule.get("prefix", "")
            objects = {
                o.object_name: o for o in s3.list_objects(bucket, prefix=prefix, recursive=True)
            }
            seen = self._seen_objects.get(f"{bucket}/{prefix}")
            if seen is None:  # objects already there when the loop started do not fire
                self._seen_objects[f"{bucket}/{prefix}"] = set(objects)
                continue
            for key in sorted(set(objects) - seen):
                seen.add(key)
                if not key.endswith(rule.get("suffix", "")):
                    continue
                o = objects[key]
                record = {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": self.region,
                    "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": rule.get("id", "raw"),
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": key, "size": o.size, "eTag": (o.etag or "").strip('"')},
                    },
                }
                self._deliver(
                    rule["function_arn"],
                    json.dumps({"Records": [record]}),
                    source=f"s3 {bucket}/{key}",
                )

    # -- execution logs -----------------------------------------------------------

    def log_executions(self) -> None:
        sfn = cloudwatch.client("stepfunctions")
        for machine in sfn.list_state_machines().get("stateMachines", []):
            arn = machine["stateMachineArn"]
            for ex in sfn.list_executions(stateMachineArn=arn)["executions"]:
                if ex["status"] == "RUNNING" or ex["executionArn"] in self._logged:
                    continue
                self._logged.add(ex["executionArn"])
                history = sfn.get_execution_history(executionArn=ex["executionArn"])["events"]
                lines = [
                    json.dumps(
                        {
                            "id": e["id"],
                            "type": e["type"],
                            "timestamp": e["timestamp"].isoformat(),
                            "details": {k: v for k, v in e.items() if k.endswith("EventDetails")},
                        },
                        default=str,
                    )
                    for e in history
                ]
                stream = ex.get("name") or ex["executionArn"].rsplit(":", 1)[-1]
                cloudwatch.put_log_lines(f"/aws/vendedlogs/states/{machine['name']}", stream, lines)


def serve(host: str, port: int, region: str) -> None:
    from moto.moto_api._internal.models import moto_api_backend
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    os.environ["MOTO_PORT"] = str(port)  # the ASL engine calls Lambda and ECS here
    endpoint = f"http://{host}:{port}"
    moto_extensions.install(endpoint, region)
    cfn_extensions.install()
    emr_runtime.install()
    sfn_emr_serverless.install()
    # moto's own config, set in this process (its /moto-api is not served: see guard)
    moto_api_backend.set_config(
        {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": True}}
    )
    app = guard.Guard(
        DomainDispatcherApplication(create_backend_app), guard.allowed_hosts(host, port)
    )
    server = make_server(host, port, app, True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from sandbox.platform import load_settings

    loop = EventLoop(
        region,
        clock_speed=float(os.environ.get("SANDBOX_AWS_CLOCK_SPEED", "1")),
        runtime_dir=load_settings().runtime_dir,
    )
    ready = Path(os.environ.get("SANDBOX_AWS_READY_FILE", ""))
    if ready.name:
        ready.write_text(endpoint)
    log.info("local AWS endpoint at %s", endpoint)
    try:
        loop.run()
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(args.host, args.port, args.region)


if __name__ == "__main__":
    main()
