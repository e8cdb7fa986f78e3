"""`sandbox seed --export`, as the docs (DMS page) write it, rebuilds the committed sample."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from sandbox.platform.settings import PROJECT_ROOT

from .conftest import Sandbox

SAMPLES = PROJECT_ROOT / "data_samples"


def test_the_documented_export_reproduces_data_samples(sandbox: Sandbox, tmp_path: Path) -> None:
    page = (PROJECT_ROOT / "docs" / "dms.md").read_text()
    documented = re.search(r"`sandbox seed (--export data_samples [^`]*)`", page)
    assert documented, "docs/dms.md documents how to regenerate data_samples/"
    args = documented.group(1).replace("data_samples", str(tmp_path / "out")).split()
    ran = sandbox("seed", *args)
    assert ran.code == 0, ran.err
    written = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.*"))
    committed = sorted(
        p.relative_to(SAMPLES) for p in SAMPLES.rglob("*.*") if p.parent.name != "expected_gold"
    )
    assert written == committed
    for rel in written:
        fresh, kept = tmp_path / "out" / rel, SAMPLES / rel
        if rel.suffix == ".parquet":
            assert pq.read_table(fresh).equals(pq.read_table(kept)), rel
        else:
            assert fresh.read_bytes() == kept.read_bytes(), rel
