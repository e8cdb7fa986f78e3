"""Package surfaces that import on first use.

A package's ``__init__`` names its public API once (``__all__``) and where each name
lives; the module behind a name is imported when the name is first read. So
``from sandbox.ingest.dms import DmsTask`` works without ``import sandbox.ingest.dms``
paying for pyarrow, and ``sandbox status`` stays fast.

    __getattr__, __dir__ = lazy_exports(__name__, {"DmsTask": "task", ...})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps each public name
    to the module (relative to the package) that defines it."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # read once
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
