"""Exercise 1, productized: what the student's CloudFormation template schedules and
alerts on, read with the platform's template loader (CloudFormation's short forms).

- The schedule: an ``AWS::Events::Rule`` or ``AWS::Scheduler::Schedule`` with an
  expression EventBridge accepts (:func:`sandbox.orchestrate.aws.schedules.validate`),
  targeting the state machine of the student's ASL file; or the ``Schedule`` /
  ``ScheduleV2`` event of a SAM ``AWS::Serverless::StateMachine``.
- An alert outside the definition: an EventBridge rule on the state machine's
  ``Step Functions Execution Status Change`` to ``FAILED`` with an SNS target, or a
  CloudWatch alarm on its ``ExecutionsFailed`` metric with an SNS action (the two ways
  https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-events.html and
  https://docs.aws.amazon.com/step-functions/latest/dg/procedure-monitor-metrics.html
  describe).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.course.catalogue import t


def templates(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The CloudFormation templates of the work (YAML or JSON with Resources)."""
    from sandbox.orchestrate.aws.errors import DeployError
    from sandbox.orchestrate.aws.template import load_template

    found = []
    for pattern in ("*.yaml", "*.yml", "*.json"):
        for path in sorted(root.rglob(pattern)):
            if ".github" in path.parts or path.name.endswith(".asl.json"):
                continue
            try:
                found.append((path, load_template(path)))
            except DeployError:
                continue
    return found


def _machines(resources: dict) -> dict[str, dict]:
    kinds = {"AWS::StepFunctions::StateMachine", "AWS::Serverless::StateMachine"}
    return {
        name: r for name, r in resources.items() if isinstance(r, dict) and r.get("Type") in kinds
    }


def _runs_file(machine: dict, asl_file: str) -> bool:
    props = json.dumps(machine.get("Properties") or {})
    return Path(asl_file).name in props or '"Definition' in props


def _expression(template: dict, value: Any) -> Any:
    """A schedule expression, a parameter's default when it is a ``Ref``."""
    if isinstance(value, dict) and "Ref" in value:
        parameter = (template.get("Parameters") or {}).get(value["Ref"]) or {}
        return parameter.get("Default")
    return value


def _schedules(template: dict) -> list[tuple[str, Any, dict, str | None]]:
    """(where, expression, properties, targeted machine) of every schedule."""
    resources = template["Resources"]
    machines = _machines(resources)
    out = []
    for name, resource in resources.items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        props = (resource.get("Properties") or {}) if isinstance(resource, dict) else {}
        if kind in {"AWS::Events::Rule", "AWS::Scheduler::Schedule"}:
            if "ScheduleExpression" not in props and "EventPattern" in props:
                continue  # a rule on events, not a schedule
            targets = props.get("Targets") or ([props["Target"]] if "Target" in props else [])
            refs = json.dumps(targets)
            machine = next((m for m in machines if f'"{m}"' in refs), None)
            out.append(
                (name, _expression(template, props.get("ScheduleExpression")), props, machine)
            )
        if kind == "AWS::Serverless::StateMachine":
            for event_name, event in (props.get("Events") or {}).items():
                if isinstance(event, dict) and event.get("Type") in {"Schedule", "ScheduleV2"}:
                    eprops = event.get("Properties") or {}
                    value = eprops.get("Schedule", eprops.get("ScheduleExpression"))
                    out.append((f"{name}.{event_name}", _expression(template, value), eprops, name))
    return out


def grade_schedule(root: Path, asl_file: str) -> tuple[bool, str]:
    """(passed, message) for the schedule of the state machine running ``asl_file``."""
    from sandbox.orchestrate.aws import schedules
    from sandbox.orchestrate.aws.errors import AwsError

    for path, template in templates(root):
        machines = _machines(template["Resources"])
        for name, expression, props, machine in _schedules(template):
            where = f"{path.relative_to(root)} ({name})"
            if not isinstance(expression, str):
                return False, t("ex1.schedule.no_expression", where=where)
            try:
                schedules.validate(expression)
            except AwsError as exc:
                return False, t("ex1.schedule.invalid", where=where, error=exc)
            if (
                props.get("State") in {"DISABLED", "DISABLED_STATE"}
                or props.get("Enabled") is False
            ):
                return False, t("ex1.schedule.disabled", where=where)
            if machine is None:
                return False, t(
                    "ex1.schedule.no_target", where=where, machines=sorted(machines) or "-"
                )
            if not _runs_file(machines[machine], asl_file):
                return False, t(
                    "ex1.schedule.other_machine", where=where, machine=machine, file=asl_file
                )
            return True, t("ex1.schedule.ok", where=where, expression=expression, file=asl_file)
    return False, t("ex1.schedule.none")


def _to_sns(template: dict, value: Any) -> bool:
    """Whether ``value`` (a target or action list) names an SNS topic of the template or
    an ARN of one (a parameter counts: the platform's failure topic)."""
    text = json.dumps(value)
    resources = template["Resources"]
    topics = [
        n
        for n, r in resources.items()
        if isinstance(r, dict) and r.get("Type") == "AWS::SNS::Topic"
    ]
    parameters = list((template.get("Parameters") or {}).keys())
    return ":sns:" in text or any(f'"{n}"' in text for n in topics + parameters)


def alert_outside(root: Path, asl_file: str) -> str | None:
    """Where the template alerts on the state machine's failure outside its definition."""
    for path, template in templates(root):
        resources = template["Resources"]
        machines = [m for m, r in _machines(resources).items() if _runs_file(r, asl_file)]
        for name, resource in resources.items():
            if not isinstance(resource, dict):
                continue
            props = resource.get("Properties") or {}
            text = json.dumps(props)
            watches = any(f'"{m}"' in text for m in machines) or not machines
            if resource.get("Type") == "AWS::Events::Rule" and "EventPattern" in props:
                pattern = json.dumps(props["EventPattern"])
                if (
                    "Step Functions Execution Status Change" in pattern
                    and "FAILED" in pattern
                    and watches
                    and _to_sns(template, props.get("Targets"))
                ):
                    return f"{path.relative_to(root)} ({name})"
            if (
                resource.get("Type") == "AWS::CloudWatch::Alarm"
                and props.get("MetricName") == "ExecutionsFailed"
                and watches
                and _to_sns(template, props.get("AlarmActions"))
            ):
                return f"{path.relative_to(root)} ({name})"
    return None
