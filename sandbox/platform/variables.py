"""``SANDBOX_*`` variables: every name a setting reads, and the typos that read nothing."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from sandbox.platform.settings import Settings, env_name

__all__ = ["NOT_SETTINGS", "setting_names", "unknown_variables"]

# SANDBOX_* variables that are not settings but are read elsewhere on purpose.
NOT_SETTINGS = {"SANDBOX_UPDATE_EXPECTED"}


def setting_names() -> list[str]:
    """Every environment variable that sets a field (``SANDBOX_DMS__SLOT_NAME`` included)."""
    names = []
    for name, info in Settings.model_fields.items():
        nested = getattr(info.annotation, "model_fields", None)
        names.append(env_name((name,)))
        names += [env_name((name, sub)) for sub in nested or ()]
    return names


def unknown_variables(environ: Mapping[str, str]) -> dict[str, str | None]:
    """``SANDBOX_*`` names in ``environ`` that no setting reads, each with the likely one.

    Settings ignore unknown variables, so a typo (``SANDBOX_POSTGRE_PORT``) would
    otherwise change nothing, silently.
    """
    known = setting_names()
    found: dict[str, str | None] = {}
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith("SANDBOX_") and upper not in known and upper not in NOT_SETTINGS:
            close = difflib.get_close_matches(upper, known, n=1)
            found[name] = close[0] if close else None
    return found
