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


@pytest.mark.parametrize("name", PACKAGES)
def test_a_lazy_surface_says_the_same_in_its_three_places(name: str) -> None:
    """A lazy package names each export three times: ``_EXPORTS`` (where it lives, for
    the runtime), the ``TYPE_CHECKING`` imports (for mypy and ruff) and ``__all__``
    (literal, for static tools). They must agree."""
    import ast

    package = importlib.import_module(name)
    exports = getattr(package, "_EXPORTS", None)
    if exports is None:
        return
    assert set(package.__all__) - {"__version__"} == set(exports)
    tree = ast.parse(inspect.getsource(package))
    typed = {
        alias.name: node.module
        for block in tree.body
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == {k: f"{name}.{v}" for k, v in exports.items()}
