"""EventBridge schedule expressions, table-driven: each case says why."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from sandbox.orchestrate.aws import ScheduleError
from sandbox.orchestrate.aws.schedules import next_fire, validate

T0 = datetime(2026, 11, 23, 10, 7, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # every day at 06:00 UTC: tomorrow, since today's has passed
        ("cron(0 6 * * ? *)", T0, datetime(2026, 11, 24, 6, 0, tzinfo=UTC)),
        # AWS weekdays count from 1 = Sunday: MON is 2, so the next Monday 06:00
        ("cron(0 6 ? * 2 *)", T0, datetime(2026, 11, 30, 6, 0, tzinfo=UTC)),
        ("cron(0 6 ? * MON *)", T0, datetime(2026, 11, 30, 6, 0, tzinfo=UTC)),
        # every 15 minutes: the next quarter hour
        ("cron(0/15 * * * ? *)", T0, datetime(2026, 11, 23, 10, 15, tzinfo=UTC)),
        # L: the last day of the month
        ("cron(0 0 L * ? *)", T0, datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),
        # #: the first Friday (6) of the month
        ("cron(0 9 ? * 6#1 *)", T0, datetime(2026, 12, 4, 9, 0, tzinfo=UTC)),
        # a rate counts from when the rule was created
        ("rate(5 minutes)", T0, datetime(2026, 11, 23, 10, 12, 30, tzinfo=UTC)),
        ("rate(1 hour)", T0, datetime(2026, 11, 23, 11, 7, 30, tzinfo=UTC)),
    ],
)
def test_next_fire(expression: str, after: datetime, expected: datetime) -> None:
    assert next_fire(expression, after, created=T0) == expected


def test_rate_fires_on_its_period_from_creation() -> None:
    later = datetime(2026, 11, 23, 10, 20, 0, tzinfo=UTC)
    assert next_fire("rate(5 minutes)", later, created=T0) == datetime(
        2026, 11, 23, 10, 22, 30, tzinfo=UTC
    )


# What EventBridge's PutRule refuses (ValidationException "Parameter ScheduleExpression is
# not valid."): https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
# and public captures of the answer: a five-field cron through Terraform
# (cds-snc/notification-terraform#344), rate(3 minute) in a CloudTrail record
# (buildkite/buildkite-agent-scaler#100), both day fields '*' (zappa/Zappa#36).
@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 6 * * *)",  # Unix cron has five fields; AWS needs six
        "cron(*/1 * * * *)",  # the Terraform capture
        "cron(0 6 * * * *)",  # day-of-month and day-of-week both set: one must be '?'
        "cron(15 * ? * ? *)",  # both '?'
        "cron(0 6 * * ? 1969)",  # years run 1970-2199
        "cron(0 6 * * ? 2200)",
        "cron(0 6 * * ? 2025-2300)",
        "cron(99 6 * * ? *)",  # minute out of range
        "rate(1 minutes)",  # AWS wants the singular for 1
        "rate(5 minute)",  # and the plural otherwise
        "rate(3 minute)",  # the CloudTrail capture
        "rate(0 minutes)",  # a positive value
        "rate(5 weeks)",  # minute(s), hour(s), day(s) only
        "rate(1.5 hours)",
        "every 5 minutes",
    ],
)
def test_expressions_eventbridge_refuses_are_errors_naming_them(expression: str) -> None:
    with pytest.raises(ScheduleError, match=re.escape(expression)) as refused:
        validate(expression)
    assert refused.value.code == "ValidationException"
    with pytest.raises(ScheduleError):
        next_fire(expression, T0)


@pytest.mark.parametrize(
    "expression", ["cron(0 6 * * ? 2025)", "cron(0 6 1 1 ? 2026)", "cron(0 18 ? * L *)"]
)
def test_a_rule_that_never_fires_again_has_no_next_time(expression: str) -> None:
    validate(expression)  # PutRule accepts it
    assert next_fire(expression, T0) is None


def test_a_failed_delivery_or_a_dead_rule_never_stops_a_schedule(monkeypatch, tmp_path) -> None:
    """The endpoint's schedule loop (no server: a stand-in events client). A target
    whose delivery fails does not keep the other target from its event, nor the rule
    from firing at its next time; a rule that never fires again holds up nothing."""
    from datetime import timedelta

    from sandbox.orchestrate.aws import cloudwatch
    from sandbox.orchestrate.aws.server import EventLoop

    rules = [
        {"Name": "a-past-year", "Arn": "arn:rule/a", "ScheduleExpression": "cron(0 6 * * ? 2025)",
         "State": "ENABLED"},
        {"Name": "hourly", "Arn": "arn:rule/h", "ScheduleExpression": "rate(1 hour)",
         "State": "ENABLED"},
    ]  # fmt: skip

    class Events:
        def list_rules(self):
            return {"Rules": rules}

        def list_targets_by_rule(self, Rule):
            return {"Targets": [{"Arn": f"{Rule}:broken"}, {"Arn": f"{Rule}:fine"}]}

    delivered: list[str] = []

    def deliver(arn, payload, *, source):
        if arn.endswith("broken"):
            raise RuntimeError("the target's service answered 500")
        delivered.append(arn)

    monkeypatch.setattr(cloudwatch, "client", lambda service: Events())
    loop = EventLoop("us-east-1", runtime_dir=tmp_path)
    monkeypatch.setattr(loop, "_deliver", deliver)
    clock = [T0]
    monkeypatch.setattr(loop, "now", lambda: clock[0])
    loop.fire_schedules()  # learns each rule's next time
    for hours in (1, 2):
        clock[0] = T0 + timedelta(hours=hours, seconds=1)
        loop.fire_schedules()
    assert delivered == ["hourly:fine", "hourly:fine"]
