"""A function's reserved concurrency, as Lambda applies it on the local endpoint.

Reserved concurrency caps how many instances of a function run at once
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html); 0 stops
every invocation. Over the cap, a synchronous invoke is refused with HTTP 429
``TooManyRequestsException`` (Reason ``ReservedFunctionConcurrentInvocationLimitExceeded``,
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors), while an
``Event`` invoke waits in the event queue until a slot frees
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html). The cap is read at
every invocation, so a ``PutFunctionConcurrency`` applies at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.exceptions import JsonRESTError

_FREED = threading.Condition()
_RUNNING: dict[str, int] = {}  # function ARN -> invocations running now


class TooManyRequests(JsonRESTError):
    """Lambda's answer to a synchronous invoke over the function's reserved concurrency."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.description = json.dumps(
            {
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User",
                "message": "Rate Exceeded.",
            }
        )


def reserved(function: Any) -> int | None:
    """The function's reserved concurrency now (None: not reserved, no cap of its own)."""
    value = getattr(function, "reserved_concurrency", None)
    return None if value is None else int(value)


@contextmanager
def slot(function: Any, *, wait: bool) -> Iterator[None]:
    """Run one invocation within the function's reserved concurrency: ``wait`` for a
    free slot (the event queue), or raise :class:`TooManyRequests` (a synchronous one)."""
    arn = function.function_arn
    with _FREED:
        while (cap := reserved(function)) is not None and _RUNNING.get(arn, 0) >= cap:
            if not wait:
                raise TooManyRequests()
            _FREED.wait(1.0)  # also wakes for a PutFunctionConcurrency that raised the cap
        _RUNNING[arn] = _RUNNING.get(arn, 0) + 1
    try:
        yield
    finally:
        with _FREED:
            _RUNNING[arn] -= 1
            _FREED.notify_all()
