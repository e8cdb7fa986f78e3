"""The Airflow DAG file wires exactly the pipeline's tasks and dependencies.

Airflow is not installed in the sandbox, so a minimal stand-in for ``DAG`` and
``PythonOperator`` records what the file builds (a twin for this unit test only).
"""

from __future__ import annotations

import importlib.util
import sys
import types

from sandbox.orchestrate.pipeline import TASKS
from sandbox.platform.settings import PROJECT_ROOT

DAG_FILE = PROJECT_ROOT / "dags" / "lakehouse_sandbox.py"


class _Op:
    def __init__(self, task_id, python_callable, op_kwargs, doc):
        self.task_id, self.callable, self.kwargs, self.doc = (
            task_id,
            python_callable,
            op_kwargs,
            doc,
        )
        self.upstream: set[str] = set()

    def __rshift__(self, other):
        other.upstream.add(self.task_id)
        return other


class _Dag:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_dag_mirrors_the_pipeline(monkeypatch) -> None:
    airflow = types.ModuleType("airflow")
    airflow.DAG = _Dag
    operators = types.ModuleType("airflow.operators")
    python = types.ModuleType("airflow.operators.python")
    python.PythonOperator = _Op
    for name, mod in [
        ("airflow", airflow),
        ("airflow.operators", operators),
        ("airflow.operators.python", python),
    ]:
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("lakehouse_sandbox_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ops = module.operators
    assert list(ops) == [t.name for t in TASKS]
    for task in TASKS:
        assert ops[task.name].upstream == set(task.upstream), task.name
        assert ops[task.name].kwargs == {"name": task.name}
    assert module.dag.kwargs["dag_id"] == "lakehouse_sandbox"
