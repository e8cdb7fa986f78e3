"""The AWS side's errors, under the sandbox's one root: each names the resource and,
where AWS has one, the error code AWS would answer with (what a ``Catch`` or a client's
``except ClientError`` would see in production)."""

from __future__ import annotations

from sandbox.platform import SandboxError


class AwsError(SandboxError):
    """An AWS call the sandbox made or emulated failed.

    ``code``: AWS's error code (``ValidationException``, ``ExecutionDoesNotExist``...),
    or ``""`` where the failure is the sandbox's own (a wait that timed out).
    ``resource``: the ARN or name the failure is about.
    """

    def __init__(self, message: str, *, code: str = "", resource: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.resource = resource


class DeployError(AwsError):
    """A definition cannot be deployed (a missing file, invalid JSON, a bad template)."""


class ScheduleError(AwsError):
    """A schedule expression EventBridge refuses (``ValidationException``)."""

    def __init__(self, message: str, *, resource: str = "") -> None:
        super().__init__(message, code="ValidationException", resource=resource)


class ExecutionError(AwsError):
    """A Step Functions execution or its logs cannot be followed."""
