"""The scaling benchmark: the demo at several scales, each figure a median of its runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.bench.demo import bench_scaling

pytestmark = [pytest.mark.slow, pytest.mark.matrix]


def test_every_figure_of_a_repeated_scaling_run_has_a_sample_per_run(tmp_path: Path) -> None:
    chart = tmp_path / "scaling.png"
    figures = {
        f.name: f
        for f in bench_scaling(
            repeat=2, scales=(0.05,), changes=200, chart=chart, progress=lambda m: None
        )
    }
    for name in (
        "demo wall at scale 0.05 (200 changes)",
        "demo peak memory at scale 0.05",
        "bronze at scale 0.05",
        "silver at scale 0.05",
        "gold at scale 0.05",
        "warehouse at scale 0.05",
    ):
        assert len(figures[name].samples) == 2, name
        assert all(s > 0 for s in figures[name].samples), name
    assert chart.stat().st_size > 10_000  # a PNG with three panels drawn
