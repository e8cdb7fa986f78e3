"""A pytest plugin: after the student's tests pass, run them again on each mutant.

``sandbox course check 1`` starts the student's tests as
``python -m pytest -p sandbox.course.mutation_plugin`` with ``SANDBOX_COURSE_MUTATE``
set to a JSON object: ``file`` (the job module), ``function`` (the transform's name),
``tables`` (its parameters -> the silver table each takes) and ``report`` (where to
write the verdicts). When the normal run passes, every test is run once more for each
mutant of :mod:`sandbox.course.prototype`, with the transform replaced by the mutant
wherever the student's modules hold it (``from retention import f``, ``import
retention``, an alias); a mutant is killed when a test fails on it. The report maps
each mutant to the first test that killed it, or null.

Fixtures of wider scope (the Spark session) are kept across the mutants' runs: each
item is run with the next one to be run as ``nextitem``, as pytest's own loop does.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

ENV = "SANDBOX_COURSE_MUTATE"


def _student_modules(root: Path) -> list[Any]:
    out = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(root):
            out.append(module)
    return out


def _mutant_of(original, tables: dict[str, str], mutant: str):
    from sandbox.course.prototype import run_prototype

    signature = inspect.signature(original)

    def mutated(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        frames = {tables[name]: value for name, value in bound.arguments.items() if name in tables}
        return run_prototype(frames, mutant)

    return mutated


def _swap(modules: list[Any], old, new) -> list[tuple[Any, str]]:
    swapped = []
    for module in modules:
        for name, value in list(vars(module).items()):
            if value is old:
                setattr(module, name, new)
                swapped.append((module, name))
    return swapped


class _SessionOnly:
    """A stand-in "next item" whose only collector is the session: handed to pytest's
    teardown, it ends every fixture narrower than the session (a module-scoped result
    computed by the last mutant must not be reused by the next) and keeps the
    session-scoped ones (the Spark session, seconds to start)."""

    def __init__(self, session: pytest.Session) -> None:
        self._session = session

    def listchain(self) -> list:
        return [self._session]


def _run(session: pytest.Session, items: list[pytest.Item]) -> str | None:
    """Run ``items``; the node id of the first that fails, or None. Stops at the first,
    and leaves only session-scoped fixtures set up either way."""
    from _pytest.runner import runtestprotocol

    between = _SessionOnly(session)
    for i, item in enumerate(items):
        nextitem = items[i + 1] if i + 1 < len(items) else between
        reports = runtestprotocol(item, nextitem=nextitem, log=False)  # type: ignore[arg-type]
        if any(r.failed for r in reports):
            session._setupstate.teardown_exact(between)  # type: ignore[arg-type]
            return item.nodeid
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session):
    result = yield
    raw = os.environ.get(ENV)
    if not raw or session.testsfailed or not session.items:
        return result
    spec = json.loads(raw)
    from sandbox.course.prototype import MUTANTS

    target = Path(spec["file"]).resolve()
    holder = [m for m in _student_modules(target.parent) if Path(m.__file__).resolve() == target]
    original = getattr(holder[0], spec["function"], None) if holder else None
    verdicts: dict[str, str | None] = {}
    if original is not None:
        modules = _student_modules(Path(spec["root"]).resolve())
        items = list(session.items)
        for mutant in MUTANTS:
            swapped = _swap(modules, original, _mutant_of(original, spec["tables"], mutant.name))
            try:
                verdicts[mutant.name] = _run(session, items)
            finally:
                for module, name in swapped:
                    setattr(module, name, original)
        session._setupstate.teardown_exact(None)
    Path(spec["report"]).write_text(
        json.dumps({"imported": original is not None, "mutants": verdicts})
    )
    return result
