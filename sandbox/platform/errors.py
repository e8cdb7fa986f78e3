"""The errors the sandbox reports to users as a one-line message."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """Base of the errors the sandbox reports to users as a one-line message."""


class PortInUseError(SandboxError):
    """A port a service needs is taken; nothing was started."""


class ServiceStartError(SandboxError):
    """A service did not become ready; the message carries the tail of its log."""
