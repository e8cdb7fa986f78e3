"""Each package's ``__init__`` is its public surface: a docstring, ``__all__``, and a
docstring on every function and class it exports (#33)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import sandbox

PACKAGES = sorted(
    [sandbox.__name__]
    + [m.name for m in pkgutil.walk_packages(sandbox.__path__, "sandbox.") if m.ispkg]
)


def test_every_package_is_found() -> None:
    assert {"sandbox.jobs.silver", "sandbox.ingest.dms", "sandbox.orchestrate.aws"} <= set(PACKAGES)


def _documented(value: object) -> bool:
    doc = (getattr(value, "__doc__", None) or "").strip()
    # A dataclass without a docstring gets its signature as one: that says nothing.
    return bool(doc) and not doc.startswith(f"{getattr(value, '__name__', '')}(")


@pytest.mark.parametrize("name", PACKAGES)
def test_package_surface(name: str) -> None:
    package = importlib.import_module(name)
    assert (package.__doc__ or "").strip(), f"{name}: no docstring"
    assert isinstance(getattr(package, "__all__", None), list), f"{name}: no __all__"
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    undocumented = []
    for export in package.__all__:
        # A name that is also a module's would change meaning once the module is imported.
        assert export not in submodules, f"{name}.{export} is also a module"
        value = getattr(package, export)  # resolves (a lazy name imports its module)
        if (inspect.isfunction(value) or inspect.isclass(value)) and not _documented(value):
            undocumented.append(export)
    assert not undocumented, f"{name}: no docstring on {undocumented}"
