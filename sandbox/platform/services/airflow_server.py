"""Apache Airflow: API server and UI, scheduler and DAG processor, started on demand.

``sandbox airflow up`` (``just airflow``) starts it after the core services; it is
supervised by pid like them and stopped by ``sandbox down``. See
:mod:`sandbox.orchestrate.airflow`.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from sandbox.platform.private import private_dir, write_private
from sandbox.platform.services.base import EmbeddedService
from sandbox.platform.settings import PROJECT_ROOT, Settings

DAGS_FOLDER = PROJECT_ROOT / "dags"
DAG_ID = "lakehouse_sandbox"


def airflow_bin() -> Path:
    """The ``airflow`` command of this environment (the ``airflow`` dependency group)."""
    path = Path(sys.executable).with_name("airflow")
    if not path.exists():
        from sandbox.platform.errors import SandboxError

        raise SandboxError(
            "airflow: not installed in this environment; `uv sync` installs the airflow "
            "dependency group (`uv run just airflow` does it on first use)"
        )
    return path


def airflow_home(settings: Settings) -> Path:
    return settings.runtime_dir / "airflow"


def write_passwords(settings: Settings, home: Path) -> Path:
    """The simple auth manager's password file, so the login is the one the CLI prints."""
    private_dir(home)
    path = home / "passwords.json"
    write_private(path, json.dumps({settings.airflow_user: settings.airflow_password}))
    return path


def airflow_env(settings: Settings, home: Path | None = None) -> dict[str, str]:
    """Our environment plus what points Airflow at this home, its ports and ``dags/``.

    Metadata in SQLite under ``home``; the API server on 127.0.0.1:``airflow_port``;
    the scheduler's log server off (logs are local files the API server reads); no
    example DAGs; new DAGs unpaused, and the daily schedule's runs not started unless
    ``SANDBOX_AIRFLOW_SCHEDULE`` is on (triggered runs and backfills run either way).
    The ``SANDBOX_*`` values reach the tasks, so they work on this home's stack.
    """
    home = home or airflow_home(settings)
    url = f"http://{settings.host}:{settings.airflow_port}"
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= settings.as_env() | {
        "PATH": f"{bin_dir}{os.pathsep}{path}" if path else bin_dir,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(settings.airflow_schedule),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Four task slots: the pipeline is at most two wide; each slot is a process.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.airflow_user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": settings.host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "SANDBOX_HOME": str(settings.runtime_dir),
        # The DAG's failure alert (dags/alerts.py): the local AWS endpoint's failure
        # topic when it runs, else this file.
        "LAKEHOUSE_FAILURE_TOPIC_ARN": (
            f"arn:aws:sns:{settings.s3_region}:123456789012:lakehouse-failures"
        ),
        "AWS_ENDPOINT_URL_SNS": settings.aws_endpoint,
        "AWS_DEFAULT_REGION": settings.s3_region,
        "LAKEHOUSE_ALERTS_FILE": str(settings.runtime_dir / "alerts.jsonl"),
    }
    env.setdefault("AWS_ACCESS_KEY_ID", "sandbox")  # the endpoint takes any credentials
    env.setdefault("AWS_SECRET_ACCESS_KEY", "sandbox")
    return env


class AirflowService(EmbeddedService):
    """Apache Airflow (API server, scheduler, DAG processor) as an on-demand service."""

    name = "airflow"
    start_timeout_s = 180.0  # migrating the database and three cold imports of Airflow

    def ports(self) -> dict[int, str]:
        return {self.settings.airflow_port: "airflow (API server and UI)"}

    def endpoint(self) -> str:
        return self.settings.airflow_url

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "sandbox.orchestrate.airflow.runner"]

    def env(self) -> dict[str, str]:
        return airflow_env(self.settings)

    def prepare(self) -> None:
        write_passwords(self.settings, airflow_home(self.settings))

    def is_ready(self) -> bool:
        """Ready once the API server answers and reports a healthy scheduler."""
        url = f"{self.settings.airflow_url}/api/v2/monitor/health"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                health = json.load(resp)
        except (OSError, ValueError):
            return False
        return health.get("scheduler", {}).get("status") == "healthy"
