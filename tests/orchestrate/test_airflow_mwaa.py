"""The DAG parses under the Airflow versions MWAA offers, each in a uv environment of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.orchestrate.airflow.graph import MWAA_AIRFLOW_VERSIONS
from sandbox.orchestrate.pipeline import TASKS
from sandbox.platform.services.airflow_server import DAG_ID, DAGS_FOLDER

pytestmark = [
    pytest.mark.matrix,
    pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to build the environments"),
]

CHECK = """
import sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
assert bag.import_errors == {}, bag.import_errors
dag = bag.dags[sys.argv[2]]
print(",".join(t.task_id for t in dag.topological_sort()))
"""


@pytest.mark.parametrize("version", MWAA_AIRFLOW_VERSIONS)
def test_the_dag_parses_on_mwaa_airflow(version: str, tmp_path: Path) -> None:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    proc = subprocess.run(
        [
            "uv",
            "run",
            "--isolated",
            "--no-project",
            "--python",
            python,
            "--with",
            f"apache-airflow=={version}",
            "python",
            "-c",
            CHECK,
            str(DAGS_FOLDER),
            DAG_ID,
        ],
        env={
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "SANDBOX_"))
        }
        | {"AIRFLOW_HOME": str(tmp_path / "airflow")},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == ",".join(t.name for t in TASKS)
