"""How long work reports progress: a callable taking one line of text."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The progress callback that says nothing."""
