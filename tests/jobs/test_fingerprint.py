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
from sandbox.jobs.silver import commerce, core, runner

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
import json
from sandbox.jobs import fingerprint as f, gold
from sandbox.jobs.silver import runner
shared, domains = runner.shared_digests()
out = {"SILVER_TABLES": shared, **domains,
       "GOLD_TABLES": f.shared_digest(gold, "GOLD_TABLES", exclude={"sandbox.jobs.silver"})}
for t in runner.SILVER_TABLES:
    out[t.name] = runner.table_code(t)
for t in gold.GOLD_TABLES:
    out[t.name] = f.code_digest(t.build, gold) + f.stable_repr(getattr(t, "rules", ()))
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
    domains = len(runner.DOMAINS)
    assert len(runs[0]) == 2 + domains + len(silver.SILVER_TABLES) + len(gold.GOLD_TABLES)


def digests() -> dict[str, str]:
    """What the edits below may change: silver's shared code, each domain's, two silver
    tables' own code, and gold's shared code."""
    shared, domains = runner.shared_digests()

    def table_code(name: str) -> str:
        return runner.table_code(next(t for t in runner.SILVER_TABLES if t.name == name))

    return {
        "silver": shared,
        **{name.rsplit(".", 1)[1]: d for name, d in domains.items()},
        "gold": fingerprint.shared_digest(gold, "GOLD_TABLES", exclude={"sandbox.jobs.silver"}),
        "fct_payment": table_code("fct_payment"),
        "dim_player": table_code("dim_player"),
    }


def edited(fn):
    """``fn`` as if its module's file had been edited: other code, same behaviour."""
    code = fn.__code__.replace(co_consts=(*fn.__code__.co_consts, "an edit"))
    return types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


@pytest.mark.parametrize(
    ("module", "name", "changed"),
    [
        (commerce, "fct_payment", {"fct_payment"}),  # a table's transform: that table only
        (core, "dim_player", {"dim_player"}),
        (gold, "run_gold", {"gold"}),  # gold's own code: silver does not import it
        # silver's runner: every silver table; gold reads silver through its tables'
        # versions, not its code
        (runner, "build_silver", {"silver"}),
        # a module every domain and the runner use: every silver table
        (quality, "check_all", {"silver", "core", "commerce", "events"}),
    ],
)
def test_an_edit_changes_the_digests_of_what_reads_the_edited_code(
    module, name: str, changed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = digests()
    monkeypatch.setattr(module, name, edited(getattr(module, name)))
    after = digests()
    assert {k for k, v in after.items() if v != before[k]} == changed
    monkeypatch.undo()
    assert digests() == before


def test_a_value_without_a_stable_repr_is_named_by_its_type() -> None:
    class Opaque:
        pass

    assert (
        fingerprint.stable_repr(Opaque())
        == "test_a_value_without_a_stable_repr_is_named_by_its_type.<locals>.Opaque"
    )
    assert fingerprint.stable_repr(frozenset({"b", "a"})) == "{'a','b'}"


def test_table_states_load_only_the_tables_not_known_and_remember_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[str] = []

    def load(settings, uri: str, s3=None) -> fingerprint.TableState:
        loaded.append(uri)
        return fingerprint.TableState(uri, 1, "fresh", None)

    monkeypatch.setattr(fingerprint, "table_state", load)
    monkeypatch.setattr(fingerprint, "s3_client", lambda settings: object())
    earlier = fingerprint.TableState("s3://lake/a", 7, "published", {"run": "r"})
    known: fingerprint.KnownStates = {"s3://lake/a": earlier, "s3://lake/gone": None}
    states = fingerprint.table_states(None, ["s3://lake/a", "s3://lake/b", "s3://lake/gone"], known)
    assert loaded == ["s3://lake/b"]
    assert states["s3://lake/a"] is earlier and states["s3://lake/gone"] is None
    assert states["s3://lake/b"].commit == "fresh" and known["s3://lake/b"] is states["s3://lake/b"]
    # Without ``known`` every table is loaded.
    fingerprint.table_states(None, ["s3://lake/a"])
    assert loaded == ["s3://lake/b", "s3://lake/a"]
