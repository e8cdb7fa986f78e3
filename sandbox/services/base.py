"""The shape every embedded service shares, and the errors the stack raises."""

from __future__ import annotations

import signal
import socket
from abc import ABC, abstractmethod

from sandbox.settings import Settings


class SandboxError(RuntimeError):
    """Base of the errors the sandbox reports to users as a one-line message."""


class PortInUseError(SandboxError):
    """A port a service needs is taken; nothing was started."""


class ServiceStartError(SandboxError):
    """A service did not become ready; the message carries the tail of its log."""


class EmbeddedService(ABC):
    """A server the CLI starts as a child process and supervises by pid."""

    name: str
    stop_signal: int = signal.SIGTERM
    start_timeout_s: float = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def ports(self) -> dict[int, str]:
        """Every port this service listens on, with what it is for."""

    @abstractmethod
    def endpoint(self) -> str:
        """What a client connects to."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """One-time set-up before the first start (init data dirs, write config)."""

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line of the server process."""

    def env(self) -> dict[str, str] | None:
        """Environment of the server process (None: inherit ours)."""
        return None

    def user(self) -> str | None:
        """Unix user to run as (None: the current user)."""
        return None

    @abstractmethod
    def is_ready(self) -> bool:
        """True once the service answers its clients."""

    def after_start(self) -> None:  # noqa: B027 - optional hook
        """Create what clients expect to exist (databases, buckets). Idempotent."""

    def stop_timeout(self) -> float:
        """Seconds between the polite stop signal and SIGKILL."""
        return self.settings.stop_timeout_s

    def after_stop(self) -> None:  # noqa: B027 - optional hook
        """Clean what the process leaves behind outside the runtime folder."""


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on ``host:port`` (a bind test, like the server will do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def tcp_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True
