"""The DAG's task graph and MWAA requirements, written from the project's own definitions."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.orchestrate.pipeline import TASKS
from sandbox.platform import PROJECT_ROOT
from sandbox.platform.services.airflow_server import DAGS_FOLDER

GRAPH_FILE = DAGS_FOLDER / "lakehouse_sandbox.tasks.json"
MWAA_REQUIREMENTS = PROJECT_ROOT / "mwaa" / "requirements.txt"
# The Airflow line MWAA offers that the DAG is checked against (test_airflow_mwaa.py), and
# its Python: MWAA pins every requirement with Airflow's constraints for the pair.
MWAA_AIRFLOW = "3.0.6"
MWAA_PYTHON = "3.12"
# Every line the DAG must parse on (tests/orchestrate/test_airflow_mwaa.py): MWAA's 3.x
# and its last 2.x, 2.11, the one an environment must reach before it can move to 3.x
# (https://docs.aws.amazon.com/mwaa/latest/userguide/upgrading-environment.html).
MWAA_AIRFLOW_VERSIONS = [MWAA_AIRFLOW, "2.11.0"]
# What the production DAG imports beyond Airflow: the pod operator.
MWAA_PACKAGES = ["apache-airflow-providers-cncf-kubernetes"]


def task_graph() -> list[dict]:
    return [{"name": t.name, "upstream": list(t.upstream), "doc": t.doc} for t in TASKS]


def graph_text() -> str:
    return json.dumps(task_graph(), indent=2) + "\n"


def mwaa_requirements_text() -> str:
    constraints = (
        "https://raw.githubusercontent.com/apache/airflow/"
        f"constraints-{MWAA_AIRFLOW}/constraints-{MWAA_PYTHON}.txt"
    )
    lines = [
        f"# MWAA requirements for dags/ on Airflow {MWAA_AIRFLOW} (Python {MWAA_PYTHON}).",
        "# Written by `sandbox airflow export`; the DAG itself needs only Airflow, its",
        "# tasks run in the pipeline's image (KubernetesPodOperator).",
        f'--constraint "{constraints}"',
        *MWAA_PACKAGES,
    ]
    return "\n".join(lines) + "\n"


def export(graph: Path = GRAPH_FILE, requirements: Path = MWAA_REQUIREMENTS) -> list[Path]:
    """Write the task graph and the MWAA requirements where they changed; the paths written."""
    written = []
    for path, text in ((graph, graph_text()), (requirements, mwaa_requirements_text())):
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
