"""A small client of Airflow's REST API (v2): log in, trigger the DAG, follow a run."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.platform import SandboxError, Settings
from sandbox.platform.services.airflow_server import DAG_ID

FINISHED = {"success", "failed"}


@dataclass
class DagRun:
    run_id: str
    state: str
    tasks: dict[str, str]  # task id -> state (None while not scheduled: "none")
    tries: dict[str, int]


class AirflowClient:
    """Airflow's REST API (v2) with the sandbox's user: trigger a run, follow its
    tasks, read their logs."""

    def __init__(self, settings: Settings) -> None:
        self.base = settings.airflow_url
        self.user, self.password = settings.airflow_user, settings.airflow_password
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise SandboxError(f"airflow: {method} {path} answered {exc.code}: {detail}") from exc
        except OSError as exc:
            raise SandboxError(
                f"airflow: {self.base} does not answer ({exc}); run `uv run just airflow`"
            ) from exc

    def login(self) -> None:
        self._token = None
        token = self._request(
            "POST", "/auth/token", {"username": self.user, "password": self.password}
        )
        self._token = token["access_token"]

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 120) -> None:
        """Until the DAG processor has parsed the DAG (right after a start it has not)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._request("GET", f"/api/v2/dags/{dag_id}")
                return
            except SandboxError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def trigger(self, dag_id: str = DAG_ID) -> str:
        run = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        return run["dag_run_id"]

    def run(self, run_id: str, dag_id: str = DAG_ID) -> DagRun:
        info = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        tis = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        instances = tis["task_instances"]
        return DagRun(
            run_id=run_id,
            state=info["state"],
            tasks={ti["task_id"]: ti["state"] or "none" for ti in instances},
            tries={ti["task_id"]: ti["try_number"] for ti in instances},
        )

    def wait(
        self,
        run_id: str,
        dag_id: str = DAG_ID,
        timeout: float = 1800,
        on_change: Callable[[DagRun], None] | None = None,
    ) -> DagRun:
        """Poll until the run succeeds or fails; ``on_change`` sees each new set of states."""
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        while True:
            run = self.run(run_id, dag_id)
            if on_change and run.tasks != seen:
                on_change(run)
                seen = dict(run.tasks)
            if run.state in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise SandboxError(f"airflow: run {run_id} still {run.state} after {timeout:g} s")
            time.sleep(2)
