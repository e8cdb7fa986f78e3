"""The warm runner: plain `sandbox run` commands without the start-up.

See :mod:`sandbox.orchestrate.warm_runner`. Started by `sandbox up` (unless
``SANDBOX_WARM_RUNNER=false``), supervised by pid, stopped by `sandbox down`. It
listens on a Unix socket of the home, not on a port.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from sandbox.platform.errors import ServiceStartError
from sandbox.platform.services.base import EmbeddedService

MAX_SOCKET_PATH = 103  # sun_path: 104 bytes on macOS, 108 on Linux, with its final NUL


class RunnerService(EmbeddedService):
    """A process with PySpark and the CLI's libraries loaded, forking one child per run."""

    name = "runner"

    def socket_path(self) -> Path:
        return self.settings.run_dir / "runner.sock"

    def ports(self) -> dict[int, str]:
        return {}

    def endpoint(self) -> str:
        return str(self.socket_path())

    def argv(self) -> list[str]:
        # -P: nothing of the folder `sandbox up` ran in shadows what a run imports
        return [
            sys.executable,
            "-P",
            "-m",
            "sandbox.orchestrate.warm_runner",
            str(self.socket_path()),
        ]

    def prepare(self) -> None:
        path = str(self.socket_path()).encode()
        if len(path) > MAX_SOCKET_PATH:
            raise ServiceStartError(
                f"runner: its socket path is {len(path)} bytes, more than a Unix socket "
                f"takes ({MAX_SOCKET_PATH} on macOS); a shorter SANDBOX_HOME enables it"
            )
        self.socket_path().unlink(missing_ok=True)

    def is_ready(self) -> bool:
        """Ready once it listens: a run sent while it still loads waits for it."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_path()))
            except OSError:
                return False
        return True

    def after_stop(self) -> None:
        self.socket_path().unlink(missing_ok=True)
