"""The same silver and gold code on Sail and on local JVM Spark gives the same marts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.course.sample_lake import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.java, pytest.mark.matrix]


def run_engine(engine: str, out: Path) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.jobs.local_run",
            "--engine",
            engine,
            "--input",
            str(SAMPLES),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.skipif(
    shutil.which("java") is None,
    reason="needs a Java 17 runtime (`java`) for local JVM Spark; Sail alone runs everywhere else",
)
def test_sail_and_jvm_spark_agree_exactly(tmp_path: Path) -> None:
    sail = run_engine("sail", tmp_path / "sail")
    jvm = run_engine("jvm", tmp_path / "jvm")
    assert sail["gold"].keys() == jvm["gold"].keys()
    for mart in sail["gold"]:
        assert sail["gold"][mart], mart
        assert sail["gold"][mart] == jvm["gold"][mart], mart
