"""Fingerprints: what a table's code is, so an unchanged table is not rebuilt."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from sandbox.jobs import fingerprint, gold, quality, silver

TABLE_MODULE = """
LIMIT = 3
KINDS = {"a", "b", "c"}


def helper(x):
    return x + LIMIT


def other():
    return 1


def table(frames):
    return helper(frames["a"]) if frames["kind"] in KINDS else None
"""


def load(tmp_path: Path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_digest(tmp_path: Path, name: str, source: str) -> str:
    module = load(tmp_path, name, source)
    return fingerprint.code_digest(module.table, module)


@pytest.mark.parametrize(
    ("edit", "same"),
    [
        # comments, blank lines and a function the table does not reach are not its code
        (
            lambda s: (
                "# a comment\n\n"
                + s.replace("def other():\n    return 1", "def other():\n    return 2")
            ),
            True,
        ),
        (lambda s: s.replace("return x + LIMIT", "return x + LIMIT  # why"), True),
        # a constant it reads, a helper it calls, its own body are
        (lambda s: s.replace("LIMIT = 3", "LIMIT = 4"), False),
        (lambda s: s.replace('{"a", "b", "c"}', '{"a", "b"}'), False),
        (lambda s: s.replace("return x + LIMIT", "return x - LIMIT"), False),
        (lambda s: s.replace('frames["a"]', 'frames["b"]'), False),
    ],
)
def test_a_table_code_digest_is_its_reached_code(tmp_path: Path, edit, same: bool) -> None:
    base = table_digest(tmp_path, "fp_base", TABLE_MODULE)
    assert (table_digest(tmp_path, "fp_edited", edit(TABLE_MODULE)) == base) is same


FINGERPRINTS = """
import json, sys
from sandbox.jobs import fingerprint as f, gold, silver
out = {}
for module, declared, exclude in ((silver, "SILVER_TABLES", set()),
                                  (gold, "GOLD_TABLES", {"sandbox.jobs.silver"})):
    tables = getattr(module, declared)
    reached = f.reached_functions([t.build for t in tables], module)
    out[declared] = f.shared_digest(module, declared, reached, exclude=exclude)
    for t in tables:
        out[t.name] = f.code_digest(t.build, module) + f.digest(f.stable_repr(t.rules)
                                                                if hasattr(t, "rules") else "")
print(json.dumps(out))
"""


def test_fingerprints_are_the_same_in_every_process() -> None:
    # String hashing differs per process (sets of names iterate in another order).
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", FINGERPRINTS],
                check=True,
                text=True,
                capture_output=True,
                env=os.environ | {"PYTHONHASHSEED": seed},
            ).stdout
        )
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1]
    assert len(runs[0]) == 2 + len(silver.SILVER_TABLES) + len(gold.GOLD_TABLES)


def shared(module) -> str:
    declared = "SILVER_TABLES" if module is silver else "GOLD_TABLES"
    tables = getattr(module, declared)
    reached = fingerprint.reached_functions([t.build for t in tables], module)
    exclude = set() if module is silver else {"sandbox.jobs.silver"}
    return fingerprint.shared_digest(module, declared, reached, exclude=exclude)


def table_code(name: str) -> str:
    table = next(t for t in silver.SILVER_TABLES if t.name == name)
    return fingerprint.code_digest(table.build, silver)


def edited(fn):
    """``fn`` as if its module's file had been edited: other code, same behaviour."""
    code = fn.__code__.replace(co_consts=(*fn.__code__.co_consts, "an edit"))
    return types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def test_an_edit_rebuilds_what_reads_the_edited_code(monkeypatch: pytest.MonkeyPatch) -> None:
    def now() -> dict[str, str]:
        return {"silver": shared(silver), "gold": shared(gold),
                "fct_payment": table_code("fct_payment"),
                "dim_player": table_code("dim_player")}  # fmt: skip

    before = now()
    # A silver table's transform: that table's code only.
    monkeypatch.setattr(silver, "fct_payment", edited(silver.fct_payment))
    assert {k for k, v in now().items() if v != before[k]} == {"fct_payment"}
    monkeypatch.undo()
    # Gold's own code: gold only (silver does not import it).
    monkeypatch.setattr(gold, "read_silver", edited(gold.read_silver))
    assert {k for k, v in now().items() if v != before[k]} == {"gold"}
    monkeypatch.undo()
    # Silver's shared code (here a module it imports): every silver table; gold reads
    # silver through its tables' versions, not its code.
    monkeypatch.setattr(quality, "check_all", edited(quality.check_all))
    assert {k for k, v in now().items() if v != before[k]} == {"silver"}
    monkeypatch.undo()
    monkeypatch.setattr(silver, "build_silver", edited(silver.build_silver))
    assert {k for k, v in now().items() if v != before[k]} == {"silver"}
    monkeypatch.undo()
    assert now() == before


def test_a_value_without_a_stable_repr_is_named_by_its_type() -> None:
    class Opaque:
        pass

    assert (
        fingerprint.stable_repr(Opaque())
        == "test_a_value_without_a_stable_repr_is_named_by_its_type.<locals>.Opaque"
    )
    assert fingerprint.stable_repr(frozenset({"b", "a"})) == "{'a','b'}"
