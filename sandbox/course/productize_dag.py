"""Exercise 1, productized in Airflow: the student's DAG run by real Airflow
(``airflow dags test``) with a planted failure.

The policies of :mod:`sandbox.course.dag_plant` replace each task's ``execute``: on the
*transient* run the first try fails and the retry runs the student's pipeline task on
the sample; on the *permanent* run every try fails, so Airflow calls the task's
``on_failure_callback`` once the retries are spent
(https://airflow.apache.org/docs/apache-airflow/stable/administration-and-deployment/logging-monitoring/callbacks.html).
Retries are Airflow's own (``retries``; ``retry_delay`` recorded, then set to zero).

Airflow's metadata database is migrated once per machine and copied per run
(``airflow db migrate`` takes about 11 s here, a run about 10 s).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.course.exercise1 import is_dag_file, job_modules

_TIMEOUT_S = 300


@dataclass
class DagRun:
    dag_id: str
    records: list[dict] = field(default_factory=list)
    log: str = ""

    def events(self, kind: str) -> list[dict]:
        return [r for r in self.records if r.get("event") == kind]


def dag_files(root: Path) -> list[Path]:
    """The work's modules that define an Airflow DAG."""
    return [path for path in job_modules(root, dags=True) if is_dag_file(path)]


def dag_ids(path: Path) -> list[str]:
    """The DAG ids a file defines: ``DAG("id")``, ``DAG(dag_id="id")``, ``@dag`` functions."""
    ids = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(
            node.func, "id", getattr(node.func, "attr", "")
        ) in {
            "DAG",
            "dag",
        }:
            named = [k.value for k in node.keywords if k.arg == "dag_id"]
            first = node.args[0] if node.args else (named[0] if named else None)
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                ids.append(first.value)
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                name = deco.func if isinstance(deco, ast.Call) else deco
                if getattr(name, "id", getattr(name, "attr", "")) == "dag":
                    given = [
                        str(k.value.value)
                        for k in (deco.keywords if isinstance(deco, ast.Call) else [])
                        if k.arg == "dag_id" and isinstance(k.value, ast.Constant)
                    ]
                    ids.append(given[0] if given else node.name)
    return list(dict.fromkeys(ids))


def _airflow() -> Path:
    from sandbox.platform.services.airflow_server import airflow_bin

    return airflow_bin()


_MIGRATING = threading.Lock()  # the two runs of one grading migrate once


def _migrated_db(env: dict[str, str]) -> Path:
    """A migrated SQLite metadata database, made once per machine and Airflow version.

    Two gradings at once each migrate into a file of their own and rename it into
    place: the last one wins, and both files are whole."""
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lakehouse-sandbox"
    db = cache / f"course-airflow-{version('apache-airflow')}.db"
    with _MIGRATING:
        if db.is_file():
            return db
        cache.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=cache, prefix=f".{db.name}.")
        os.close(fd)
        fresh = Path(name)
        fresh.unlink()  # Airflow creates the database itself
        migrate = {**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{fresh}"}
        try:
            done = subprocess.run(
                [str(_airflow()), "db", "migrate"], env=migrate, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise RuntimeError(f"airflow db migrate failed: {done.stderr[-1000:]}")
            os.replace(fresh, db)
        finally:
            fresh.unlink(missing_ok=True)
    return db


def run_dag(root: Path, files: list[Path], dag_id: str, task: str, mode: str) -> DagRun:
    """``airflow dags test dag_id`` on a copy of the student's DAG files, failure planted."""
    from sandbox.platform.services.airflow_server import DAGS_FOLDER

    with tempfile.TemporaryDirectory(prefix="course-dag-") as tmp:
        work = Path(tmp)
        dags, config = work / "dags", work / "home" / "config"
        dags.mkdir()
        config.mkdir(parents=True)
        for helper in ("alerts.py", "local_pod.py", ".airflowignore"):  # the platform's
            if (DAGS_FOLDER / helper).is_file():
                shutil.copy(DAGS_FOLDER / helper, dags / helper)
        for path in files:
            shutil.copy(path, dags / path.name)
        (config / "airflow_local_settings.py").write_text(
            "from sandbox.course.dag_plant import dag_policy, task_policy  # noqa: F401\n"
        )
        record = work / "record.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAKEHOUSE"))}
        env |= {
            "AIRFLOW_HOME": str(work / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "LAKEHOUSE_ALERTS_FILE": str(work / "alerts.jsonl"),  # the platform's stand-in
            "PYTHONPATH": os.pathsep.join(
                [str(config), str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "SANDBOX_COURSE_PLANT": json.dumps(
                {"mode": mode, "record": str(record), "root": str(root), "task": task}
            ),
        }
        db = work / "airflow.db"
        shutil.copy(_migrated_db(env), db)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{db}"
        done = subprocess.run(
            [str(_airflow()), "dags", "test", dag_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
        )
        records = (
            [json.loads(line) for line in record.read_text().splitlines()]
            if record.exists()
            else []
        )
        return DagRun(dag_id, records, done.stdout + done.stderr)
