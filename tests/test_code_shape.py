"""The package's shape, as #33 set it: modules a reader can hold, the formatter followed."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sandbox"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in MODULES
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these by concern: {long}"


def test_the_formatter_is_overruled_only_for_data_tables() -> None:
    skips = [
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in MODULES
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if line.rstrip().endswith("# fmt: skip")
    ]
    assert len(skips) < 20, skips
