"""The two profiles a stack runs in, in a module of its own so that the CLI can name
them without loading the settings (and pydantic) before a command needs them."""

from __future__ import annotations

from typing import Literal

Profile = Literal["embedded", "compose"]
