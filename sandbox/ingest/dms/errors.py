"""The DMS task's errors, importable without the data libraries (``status``, ``doctor``)."""

from __future__ import annotations

from sandbox.platform import SandboxError

RELOAD_HINT = "run `sandbox ingest dms --reload` for a new full load"


class DmsSourceError(SandboxError):
    """The source database cannot be replicated as configured (names the table)."""


class DmsSlotLostError(DmsSourceError):
    """The replication slot is gone or invalidated: only a new full load can go on."""


class DmsBusyError(DmsSourceError):
    """Another writer holds the task (one DMS writer per task)."""
