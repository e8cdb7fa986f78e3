"""The DAG file in a real Airflow DagBag: no import error, the pipeline's graph, no drift."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from sandbox.orchestrate.airflow.graph import (
    GRAPH_FILE,
    MWAA_REQUIREMENTS,
    graph_text,
    mwaa_requirements_text,
)
from sandbox.orchestrate.pipeline import TASKS
from sandbox.platform.services.airflow_server import DAG_ID, DAGS_FOLDER

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("airflow") is None,
    reason="needs the airflow dependency group (`uv sync`)",
)


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    # Airflow reads its home when first imported: set it before, and keep ~/airflow clean.
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow-home")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_the_dag_folder_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {DAG_ID}  # local_pod.py is a helper, not a DAG


def test_the_dag_is_the_pipeline(dagbag) -> None:
    dag = dagbag.dags[DAG_ID]  # from the file, not the metadata database
    assert [t.task_id for t in dag.topological_sort()] == [t.name for t in TASKS]
    for task in TASKS:
        op = dag.get_task(task.name)
        assert op.upstream_task_ids == set(task.upstream), task.name
        assert [*op.cmds, *op.arguments] == ["sandbox", "run", task.name]
        assert op.retries >= 1
        assert not any(k.startswith("SANDBOX_AIRFLOW_") for k in op.env_vars)
    assert dag.max_active_runs == 1


def test_the_committed_graph_and_requirements_are_current() -> None:
    hint = "run `uv run sandbox airflow export` and commit the result"
    assert GRAPH_FILE.read_text() == graph_text(), hint
    assert MWAA_REQUIREMENTS.read_text() == mwaa_requirements_text(), hint


def test_the_operator_runs_a_process_with_only_the_given_environment(
    dagbag, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    # The child sees the image's PATH and the env_vars it was given, not the worker's
    # other variables; a non-zero exit fails the task with the command and its code.
    from airflow.exceptions import AirflowException
    from local_pod import LocalPodOperator  # on sys.path since the DagBag loaded the DAG

    monkeypatch.setenv("WORKER_ONLY", "leak")
    show = "import os; print(sorted(k for k in os.environ if k in ('WORKER_ONLY', 'GIVEN')))"
    op = LocalPodOperator(
        task_id="t",
        image="img",
        cmds=[sys.executable, "-c"],
        arguments=[show],
        env_vars={"GIVEN": "1"},
    )
    op.execute({})
    assert "['GIVEN']" in "".join(capfd.readouterr())  # the task log (Airflow's structlog)
    bad = LocalPodOperator(
        task_id="bad", image="img", cmds=[sys.executable, "-c"], arguments=["raise SystemExit(3)"]
    )
    with pytest.raises(AirflowException, match="exited with code 3"):
        bad.execute({})
