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
        assert [*op.cmds, *op.arguments[:2]] == ["sandbox", "run", task.name]
        assert op.arguments[2] == "--as-of" and "data_interval_end" in op.arguments[3]
        assert op.retries >= 1
        assert not any(k.startswith("SANDBOX_AIRFLOW_") for k in op.env_vars)
    assert dag.max_active_runs == 1


def test_the_schedule_has_daily_data_intervals_and_each_task_gets_its_end(dagbag) -> None:
    """A scheduled or backfilled run passes its data interval's end as --as-of; a manual
    trigger (no interval to honour) passes nothing, so gold is built from everything."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    dag = dagbag.dags[DAG_ID]
    # a data-interval timetable (the run for a day covers that day), not a trigger time
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable" and not dag.catchup
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 0 * * *", "UTC")
    op = dag.get_task("gold")
    end = datetime(2026, 3, 4, tzinfo=UTC)
    for run_type, expected in (("scheduled", str(end)), ("backfill", str(end)), ("manual", "")):
        context = {"dag_run": SimpleNamespace(run_type=run_type), "data_interval_end": end}
        assert op.render_template(op.arguments, context)[3] == expected, run_type


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
    show = (
        "import os; print(sorted(k for k in os.environ if k in ('WORKER_ONLY', 'GIVEN')), "
        "'warm runner', os.environ['SANDBOX_WARM_RUNNER'])"
    )
    op = LocalPodOperator(
        task_id="t",
        image="img",
        cmds=[sys.executable, "-c"],
        arguments=[show],
        env_vars={"GIVEN": "1"},
    )
    op.execute({})
    logged = "".join(capfd.readouterr())  # the task log (Airflow's structlog)
    assert "['GIVEN']" in logged
    assert "warm runner false" in logged  # a pod runs its task itself, under its limits
    bad = LocalPodOperator(
        task_id="bad", image="img", cmds=[sys.executable, "-c"], arguments=["raise SystemExit(3)"]
    )
    with pytest.raises(AirflowException, match="exited with code 3"):
        bad.execute({})


def test_the_operators_process_has_the_pods_memory_limit(dagbag) -> None:
    """A pod's memory limit holds for the local process too (RLIMIT_AS): allocating past
    it fails the task."""
    from airflow.exceptions import AirflowException
    from local_pod import LocalPodOperator, quantity_bytes

    assert quantity_bytes("4Gi") == 4 * 2**30 and quantity_bytes("512Mi") == 512 * 2**20
    with pytest.raises(ValueError, match="'4 GB'"):
        quantity_bytes("4 GB")
    hog = LocalPodOperator(
        task_id="hog",
        image="img",
        cmds=[sys.executable, "-c"],
        arguments=["b = bytearray(1024 * 2**20)"],  # 1 GiB
        memory_limit="512Mi",
    )
    with pytest.raises(AirflowException, match="exited with code 1"):
        hog.execute({})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_operators_process_dies_with_the_task_even_on_sigkill(tmp_path) -> None:
    """A pod does not outlive its task: SIGKILL the process that runs the operator and
    its child (which ignores SIGTERM and sleeps) goes too."""
    import signal
    import subprocess
    import time

    pid_file = tmp_path / "child.pid"
    child = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    )
    runner = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from local_pod import LocalPodOperator;"
        "LocalPodOperator(task_id='t', image='i', cmds=[sys.executable, '-c'],"
        " arguments=[sys.argv[2]]).execute({})"
    )
    env = os.environ | {"AIRFLOW_HOME": str(tmp_path / "airflow")}
    task = subprocess.Popen([sys.executable, "-c", runner, str(DAGS_FOLDER), child], env=env)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.1)
        child_pid = int(pid_file.read_text())
        task.send_signal(signal.SIGKILL)
        task.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(child_pid, signal.SIGKILL)
            raise AssertionError("the child outlived its task")
    finally:
        task.kill()


def test_the_production_dag_runs_each_task_as_a_pod(tmp_path, monkeypatch) -> None:
    """LAKEHOUSE_TASK_OPERATOR=kubernetes: the same DAG with the cncf.kubernetes provider's
    KubernetesPodOperator. Each task's pod request is built offline (``dry_run``: no
    cluster) and checked field by field."""
    monkeypatch.setenv("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME", str(tmp_path)))
    monkeypatch.setenv("LAKEHOUSE_TASK_OPERATOR", "kubernetes")
    monkeypatch.setenv("SANDBOX_POSTGRES_PASSWORD", "must-not-be-in-a-pod-spec")
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    images = set()
    for task in TASKS:
        op = dag.get_task(task.name)
        assert isinstance(op, KubernetesPodOperator), task.name
        pod = op.build_pod_request_obj(dry_run=True)
        container = pod.spec.containers[0]
        images.add(container.image)
        assert container.command == ["sandbox"]
        assert container.args[:3] == ["run", task.name, "--as-of"]
        assert pod.metadata.namespace == "lakehouse"
        assert pod.spec.service_account_name == "lakehouse-pipeline"
        assert {
            "app": "lakehouse",
            "pipeline-task": task.name,
        }.items() <= pod.metadata.labels.items()
        refs = [
            (e.config_map_ref and e.config_map_ref.name, e.secret_ref and e.secret_ref.name)
            for e in container.env_from
        ]
        assert refs == [("lakehouse-settings", None), (None, "lakehouse-secrets")]
        assert not container.env, "settings come by reference, never as values"
        assert container.resources.requests == {"cpu": "1", "memory": "2Gi"}
        assert container.resources.limits["memory"] == "4Gi"
        assert op.get_logs and op.on_finish_action.value == "delete_succeeded_pod"
        assert op.startup_timeout_seconds == 600
        assert "must-not-be-in-a-pod-spec" not in str(pod.to_dict())
    (image,) = images  # one pinned image
    assert ":" in image and not image.endswith(":latest")


def test_a_timeout_that_is_no_duration_is_an_import_error_naming_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME", str(tmp_path)))
    monkeypatch.setenv("SANDBOX_AIRFLOW_TASK_TIMEOUT_S", "half an hour")
    from airflow.dag_processing.dagbag import DagBag

    errors = DagBag(dag_folder=str(DAGS_FOLDER)).import_errors
    assert any("SANDBOX_AIRFLOW_TASK_TIMEOUT_S='half an hour'" in e for e in errors.values())


def test_an_unknown_operator_switch_is_an_import_error_naming_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME", str(tmp_path)))
    monkeypatch.setenv("LAKEHOUSE_TASK_OPERATOR", "k8s")
    from airflow.dag_processing.dagbag import DagBag

    errors = DagBag(dag_folder=str(DAGS_FOLDER)).import_errors
    assert any("LAKEHOUSE_TASK_OPERATOR='k8s'" in e for e in errors.values()), errors


def test_the_stacks_settings_reach_each_task_and_airflows_login_does_not(
    tmp_path, monkeypatch
) -> None:
    """A task works on the stack of the home Airflow runs for (its SANDBOX_* settings)
    and never sees Airflow's own login (env_vars show in the UI's rendered fields)."""
    monkeypatch.setenv("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME", str(tmp_path)))
    monkeypatch.setenv("SANDBOX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SANDBOX_POSTGRES_PORT", "25432")
    monkeypatch.setenv("SANDBOX_S3_PORT", "28333")
    monkeypatch.setenv("SANDBOX_AIRFLOW_PASSWORD", "airflow-login-secret")
    monkeypatch.setenv("SANDBOX_AIRFLOW_USER", "someone")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags[DAG_ID]
    for task in TASKS:
        env = dag.get_task(task.name).env_vars
        assert env["SANDBOX_HOME"] == str(tmp_path / "home"), task.name
        assert env["SANDBOX_POSTGRES_PORT"] == "25432" and env["SANDBOX_S3_PORT"] == "28333"
        assert "airflow-login-secret" not in env.values() and "someone" not in env.values()
