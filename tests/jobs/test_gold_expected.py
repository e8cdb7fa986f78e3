"""Gold marts on the committed sample equal the checked-in expected outputs.

After an intended change to a job, regenerate them with
``SANDBOX_UPDATE_EXPECTED=1 uv run pytest tests/jobs/test_gold_expected.py``
and review the diff of ``data_samples/expected_gold/`` like code.
"""

from __future__ import annotations

import json
import os

import pytest

from sandbox.course.sample_lake import SAMPLES
from sandbox.jobs.gold import GOLD_TABLES, build_gold
from sandbox.jobs.local_run import jsonable
from sandbox.jobs.silver import build_silver

EXPECTED = SAMPLES / "expected_gold"


def rows_of(df) -> list[dict]:
    rows = [{k: jsonable(v) for k, v in r.asDict().items()} for r in df.collect()]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


@pytest.fixture(scope="module")
def gold(sample_bronze) -> dict:
    silver, _ = build_silver(sample_bronze)
    return build_gold(silver)


@pytest.mark.parametrize("mart", [t.name for t in GOLD_TABLES])
def test_gold_mart_matches_expected(gold, mart: str) -> None:
    rows = rows_of(gold[mart])
    path = EXPECTED / f"{mart}.json"
    if os.environ.get("SANDBOX_UPDATE_EXPECTED") == "1":
        EXPECTED.mkdir(exist_ok=True)
        path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    assert rows, f"{mart} is empty on the sample"
    assert rows == json.loads(path.read_text())


def test_every_mart_documents_grain_and_every_column(gold) -> None:
    for table in GOLD_TABLES:
        assert table.grain
        assert list(table.columns) == gold[table.name].columns, table.name
        assert set(table.key) <= set(table.columns)
