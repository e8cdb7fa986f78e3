"""EventBridge schedule expressions, AWS's way: ``cron(...)`` with six fields and
``rate(N unit)``.

AWS cron differs from Unix cron: six fields (minutes hours day-of-month month
day-of-week year), ``?`` in one of the day fields, ``L``, ``W`` and ``#``, and 1 =
Sunday. ``aws-croniter`` implements exactly that; plain croniter gets weekdays wrong.
Times are UTC, as EventBridge's are.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aws_croniter import AwsCroniter

from sandbox.orchestrate.aws.errors import ScheduleError

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def next_fire(expression: str, after: datetime, *, created: datetime | None = None) -> datetime:
    """The first time after ``after`` that a rule with ``expression`` fires (UTC).

    A rate rule fires every N units from when it was created (``created``).
    """
    after = after.astimezone(UTC)
    if m := _RATE.match(expression.strip()):
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        if n < 1 or (n == 1) != (not m.group(2).endswith("s")):
            raise ScheduleError(
                f"schedule {expression!r}: use 'rate(1 {unit})' or 'rate(N {unit}s)' with N > 1"
            )
        step = timedelta(seconds=n * _UNIT[unit])
        start = (created or after).astimezone(UTC)
        if after < start:
            return start + step
        periods = (after - start) // step + 1
        return start + periods * step
    if m := _CRON.match(expression.strip()):
        fields = m.group(1).split()
        if len(fields) != 6:
            raise ScheduleError(
                f"schedule {expression!r}: AWS cron has six fields "
                "(minutes hours day-of-month month day-of-week year)"
            )
        try:
            return AwsCroniter(" ".join(fields)).get_next(after, 1)[0]
        except Exception as exc:  # aws-croniter raises several types for a bad field
            raise ScheduleError(f"schedule {expression!r}: {exc}") from exc
    raise ScheduleError(f"schedule {expression!r}: expected cron(...) or rate(...)")


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
