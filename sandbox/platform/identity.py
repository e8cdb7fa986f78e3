"""Which home a running server belongs to, checked before a command writes into it.

Two checkouts on one laptop (or two students on one classroom server) with the same
ports would otherwise write into whichever stack answers first: ``run``, ``seed`` and
``ingest`` used to check only that something listens. The embedded Postgres is started
with ``-c sandbox.home=<home>`` (a custom setting any session can ``SHOW``), so a
command asks the server it reached whose it is and refuses, in one line, when it is
another home's. The compose profile's containers belong to their compose project, and
a server started before homes were recorded answers nothing: both pass.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.platform.errors import SandboxError
from sandbox.platform.settings import Settings


class ForeignStackError(SandboxError):
    """The server on this home's port belongs to another home."""


def server_home(settings: Settings) -> str | None:
    """The home the Postgres on ``settings``' port was started for (None: not recorded)."""
    import psycopg

    try:
        conn = psycopg.connect(
            settings.postgres_url("postgres"), autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        if "password authentication failed" in str(exc):
            # another home's server, most likely, with its own password
            raise ForeignStackError(
                f"the Postgres on {settings.host}:{settings.postgres_port} refuses this home's "
                "password: it is probably another home's stack (stop it, or give this home "
                "ports of its own); or this home's password changed since its cluster was "
                "made (`uv run sandbox reset`)"
            ) from exc
        raise
    with conn:
        try:
            row = conn.execute("select current_setting('sandbox.home', true)").fetchone()
        except psycopg.Error:
            return None
    return (row[0] or None) if row else None


def verify_home(settings: Settings) -> None:
    """Raise :class:`ForeignStackError` if this home's Postgres port answers for another."""
    if settings.profile != "embedded":
        return
    theirs = server_home(settings)
    ours = str(settings.runtime_dir.resolve())
    if theirs is not None and Path(theirs) != Path(ours):
        raise ForeignStackError(
            f"the Postgres on {settings.host}:{settings.postgres_port} belongs to the sandbox "
            f"home {theirs}, not to this one ({ours}): stop that stack, or give this home "
            "ports of its own (SANDBOX_*_PORT)"
        )
