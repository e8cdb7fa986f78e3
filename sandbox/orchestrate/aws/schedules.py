"""EventBridge schedule expressions, AWS's way: ``cron(...)`` with six fields and
``rate(N unit)``.

AWS cron differs from Unix cron: six fields (minutes hours day-of-month month
day-of-week year), ``?`` in exactly one of the day fields, ``L``, ``W`` and ``#``, and
1 = Sunday. ``aws-croniter`` implements exactly that; plain croniter gets weekdays
wrong. Times are UTC, as EventBridge's are.

:func:`validate` refuses what ``PutRule`` refuses, with the reason (AWS itself answers
only ``ValidationException: Parameter ScheduleExpression is not valid.``); the rules are
those of https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aws_croniter import AwsCroniter

from sandbox.orchestrate.aws.errors import ScheduleError

# What AWS answers PutRule with for any invalid expression (public captures: the
# CloudTrail record in buildkite/buildkite-agent-scaler#100, localstack#12156).
AWS_MESSAGE = "Parameter ScheduleExpression is not valid."

_RATE = re.compile(r"^rate\((\S+)\s+(\S+)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
YEARS = (1970, 2199)


def validate(expression: str) -> None:
    """Raise :class:`ScheduleError` (naming the expression and why) where EventBridge's
    ``PutRule`` answers ``ValidationException``."""
    text = expression.strip()
    if m := _RATE.match(text):
        value, unit = m.groups()
        if not value.isdigit() or int(value) < 1:
            _refuse(expression, f"the rate's value {value!r} is not a positive whole number")
        if unit.rstrip("s") not in _UNIT:
            _refuse(expression, f"unit {unit!r}: use minute(s), hour(s) or day(s)")
        singular = unit.rstrip("s")
        if (int(value) == 1) != (unit == singular):
            _refuse(expression, f"use 'rate(1 {singular})' or 'rate(N {singular}s)' with N > 1")
        return
    if m := _CRON.match(text):
        fields = m.group(1).split()
        if len(fields) != 6:
            _refuse(
                expression,
                f"AWS cron has six fields (minutes hours day-of-month month day-of-week year), "
                f"not {len(fields)}",
            )
        day_of_month, day_of_week, year = fields[2], fields[4], fields[5]
        if (day_of_month == "?") == (day_of_week == "?"):
            _refuse(
                expression,
                "exactly one of day-of-month and day-of-week must be '?' (the other "
                "a value or '*')",
            )
        for n in re.findall(r"\d+", year):
            if not YEARS[0] <= int(n) <= YEARS[1]:
                _refuse(expression, f"year {n} is outside {YEARS[0]}-{YEARS[1]}")
        try:
            AwsCroniter(" ".join(fields))
        except Exception as exc:  # aws-croniter raises several types for a bad field
            _refuse(expression, str(exc))
        return
    _refuse(expression, "expected cron(...) or rate(...)")


def _refuse(expression: str, why: str) -> None:
    raise ScheduleError(f"schedule {expression!r}: {why}", resource=expression)


def next_fire(
    expression: str, after: datetime, *, created: datetime | None = None
) -> datetime | None:
    """The first time after ``after`` that a rule with ``expression`` fires (UTC), or
    None if it never fires again (a cron whose years are past).

    A rate rule fires every N units from when it was created (``created``).
    """
    validate(expression)
    after = after.astimezone(UTC)
    if m := _RATE.match(expression.strip()):
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        step = timedelta(seconds=n * _UNIT[unit])
        start = (created or after).astimezone(UTC)
        if after < start:
            return start + step
        periods = (after - start) // step + 1
        return start + periods * step
    cron = _CRON.match(expression.strip())
    assert cron is not None  # validate() accepted it, and it is no rate
    upcoming = AwsCroniter(" ".join(cron.group(1).split())).get_next(after, 1)
    return upcoming[0] if upcoming else None


def scheduled_event(rule_arn: str, account: str, region: str, at: datetime) -> dict:
    """The event EventBridge hands a target when a schedule fires."""
    import uuid

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
