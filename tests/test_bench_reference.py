"""The benchmark's single-node references compute the same marts as the Spark jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.bench import local_run
from sandbox.bench_reference import duckdb_gold, normalize_spark, polars_gold

SAMPLES = Path(__file__).parents[1] / "data_samples"


@pytest.fixture(scope="module")
def sail_run(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("sail")
    return normalize_spark(local_run("sail", SAMPLES, out)["gold"]), out / "silver"


@pytest.mark.parametrize("engine", [duckdb_gold, polars_gold], ids=["duckdb", "polars"])
def test_reference_marts_equal_the_spark_marts(sail_run, engine) -> None:
    expected, silver = sail_run
    got = engine(silver)
    assert got.keys() == expected.keys()
    for mart, rows in expected.items():
        assert rows, mart
        assert got[mart] == rows, mart
