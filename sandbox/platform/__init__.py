"""The stack under everything: settings, the embedded and compose stacks, Spark sessions,
ports, preflight checks, progress lines and the one error root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.platform.compose import ComposeStack
    from sandbox.platform.doctor import run_checks
    from sandbox.platform.errors import PortInUseError, SandboxError
    from sandbox.platform.ports import free_home_ports, free_port_block
    from sandbox.platform.progress import Progress, quiet
    from sandbox.platform.session import in_process_sail, spark_session, stop_sessions
    from sandbox.platform.settings import (
        PROJECT_ROOT,
        DmsSettings,
        Profile,
        Settings,
        load_settings,
    )
    from sandbox.platform.stack import EmbeddedStack

_EXPORTS = {
    "load_settings": "settings",
    "Settings": "settings",
    "DmsSettings": "settings",
    "Profile": "settings",
    "PROJECT_ROOT": "settings",
    "EmbeddedStack": "stack",
    "ComposeStack": "compose",
    "spark_session": "session",
    "in_process_sail": "session",
    "stop_sessions": "session",
    "SandboxError": "errors",
    "PortInUseError": "errors",
    "Progress": "progress",
    "quiet": "progress",
    "run_checks": "doctor",
    "free_port_block": "ports",
    "free_home_ports": "ports",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "PROJECT_ROOT",
    "ComposeStack",
    "DmsSettings",
    "EmbeddedStack",
    "PortInUseError",
    "Profile",
    "Progress",
    "SandboxError",
    "Settings",
    "free_home_ports",
    "free_port_block",
    "in_process_sail",
    "load_settings",
    "quiet",
    "run_checks",
    "spark_session",
    "stop_sessions",
]
