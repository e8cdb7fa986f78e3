"""The docs' pictures come from the code's own definitions, so they cannot drift (#32)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sandbox.docs_site import graphs
from sandbox.jobs.gold import GOLD_TABLES
from sandbox.jobs.silver import SILVER_TABLES
from sandbox.orchestrate.pipeline import TASKS
from sandbox.platform.settings import PROJECT_ROOT


def _labels(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]+)</text>", svg)


def test_the_pipeline_picture_has_every_task_and_dependency() -> None:
    svg = graphs.pipeline_svg()
    assert sorted(_labels(svg)) == sorted(t.name for t in TASKS)
    dependencies = sum(len(t.upstream) for t in TASKS)
    assert svg.count("<line ") == dependencies


def test_the_lineage_reads_each_build_and_draws_every_table() -> None:
    labels = _labels(graphs.lineage_svg())
    for t in SILVER_TABLES:
        assert t.name in labels
    for m in GOLD_TABLES:
        assert f"gold.{m.name}" in labels
    assert "bronze.players" in labels and "warehouse (schema gold)" in labels
    by_name = {t.name: t for t in SILVER_TABLES}
    assert graphs.inputs(by_name["player_events"].build) == ["events", "dim_player", "fct_match"]
    assert graphs.inputs(lambda s: max(s["a"], s["b"])) == ["a", "b"]  # read, then called


def test_a_state_machine_is_drawn_from_its_file(tmp_path: Path) -> None:
    asl = json.loads((PROJECT_ROOT / "aws/stepfunctions/dbt_build.asl.json").read_text())
    svg = graphs.state_machine_svg("aws/stepfunctions/dbt_build.asl.json")
    assert set(asl["States"]) <= set(_labels(svg))
    # a state added to the file appears in the picture
    asl["States"]["Audit"] = {"Type": "Pass", "End": True}
    copy = tmp_path / "machine.asl.json"
    copy.write_text(json.dumps(asl))
    assert "Audit" in _labels(graphs.state_machine_svg(copy))
