"""The inner-loop benchmark's edits: code that changes, results that do not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sandbox.bench.demo import PACKAGE, WATCH_EDITS, edit_function

SOURCE = '''def mart(rows):
    """A docstring stays the first line of the body's text."""
    return [r * 2 for r in rows]
'''


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"edited_{path.stat().st_mtime_ns}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_save_changes_the_function_code_and_not_its_result(tmp_path: Path) -> None:
    path = tmp_path / "job.py"
    path.write_text(SOURCE)
    save = edit_function(path, "mart")
    codes = set()
    for n in (1, 2, 3):
        save(n)
        assert path.read_text().count("_edit =") == 1  # each save starts from the original
        mart = load(path).mart
        assert mart([1, 2]) == [2, 4]
        codes.add(mart.__code__.co_consts)
    assert len(codes) == 3


@pytest.mark.parametrize("label", list(WATCH_EDITS))
def test_the_benchmark_edits_functions_that_exist(label: str, tmp_path: Path) -> None:
    module, function = WATCH_EDITS[label]
    copy = tmp_path / "job.py"
    copy.write_text((PACKAGE / module).read_text())
    edit_function(copy, function)(1)
    compile(copy.read_text(), str(copy), "exec")
    with pytest.raises(RuntimeError, match="no function 'nope'"):
        edit_function(copy, "nope")
