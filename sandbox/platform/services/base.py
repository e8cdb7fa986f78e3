"""The shape every embedded service shares."""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod

from sandbox.platform.settings import Settings


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

    def detail(self, environ: dict[str, str]) -> str | None:
        """What ``status`` adds about the running server, from its environment."""
        return None

    def changed(self, environ: dict[str, str]) -> str | None:
        """Why the running server (its environment given) no longer matches the
        settings and must restart, or None."""
        return None

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
