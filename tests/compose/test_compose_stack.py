"""Driving the compose stack: the .env bootstrap, Metabase provisioning, the real stack."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from sandbox.compose import ROOT, ensure_env_file
from sandbox.metabase import MetabaseAdmin, provision


def test_env_file_is_created_once_with_fresh_secrets(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert ensure_env_file(env, ROOT / ".env.example")
    text = env.read_text()
    password = next(
        li.split("=", 1)[1]
        for li in text.splitlines()
        if li.startswith("SANDBOX_POSTGRES_PASSWORD=")
    )
    assert password != "sandbox" and len(password) >= 20
    assert env.stat().st_mode & 0o777 == 0o600
    env.write_text("SANDBOX_POSTGRES_PASSWORD=mine\n")
    assert not ensure_env_file(env, ROOT / ".env.example")  # never overwritten
    assert env.read_text() == "SANDBOX_POSTGRES_PASSWORD=mine\n"


class FakeMetabase(BaseHTTPRequestHandler):
    """The few Metabase API calls provisioning makes, in memory (a unit-test twin)."""

    state: ClassVar[dict] = {}

    def _send(self, body, code=200):
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass

    def do_GET(self):
        s = self.state
        if self.path == "/api/session/properties":
            return self._send({"has-user-setup": s["user"] is not None, "setup-token": "tok"})
        if self.path == "/api/database":
            return self._send({"data": s["databases"]})
        if self.path == "/api/card":
            return self._send(s["cards"])
        if self.path == "/api/dashboard":
            return self._send(s["dashboards"])
        if self.path.startswith("/api/dashboard/"):
            return self._send(s["dashboards"][int(self.path.rsplit("/", 1)[1]) - 1])
        return self._send({}, 404)

    def _body(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self):
        s, body = self.state, self._body()
        s["writes"].append(("POST", self.path))
        if self.path == "/api/setup":
            s["user"] = body["user"]
            return self._send({"id": "setup-session"})
        if self.path == "/api/session":
            ok = s["user"] and body["password"] == s["user"]["password"]
            return self._send({"id": "sess"} if ok else {"errors": "bad"}, 200 if ok else 401)
        key = {"/api/database": "databases", "/api/card": "cards", "/api/dashboard": "dashboards"}
        items = s[key[self.path]]
        items.append(body | {"id": len(items) + 1, "dashcards": []})
        return self._send(items[-1])

    def do_PUT(self):
        s, body = self.state, self._body()
        s["writes"].append(("PUT", self.path))
        dash = s["dashboards"][int(self.path.rsplit("/", 1)[1]) - 1]
        dash["dashcards"] = body["dashcards"]
        return self._send(dash)


def test_metabase_provisioning_is_idempotent() -> None:
    FakeMetabase.state = {
        "user": None,
        "databases": [],
        "cards": [],
        "dashboards": [],
        "writes": [],
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMetabase)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    admin = MetabaseAdmin("admin@sandbox.local", "s3cret-pass")
    warehouse = {"engine": "postgres", "name": "warehouse", "details": {}}
    try:
        first = provision(url, admin, warehouse)
        spec = json.loads((ROOT / "compose" / "metabase" / "dashboard.json").read_text())
        assert "admin" in first.created and "database warehouse" in first.created
        assert len(FakeMetabase.state["cards"]) == len(spec["cards"])
        assert len(FakeMetabase.state["dashboards"][0]["dashcards"]) == len(spec["cards"])
        for card in FakeMetabase.state["cards"]:
            assert "gold." in card["dataset_query"]["native"]["query"]
        writes = len(FakeMetabase.state["writes"])
        second = provision(url, admin, warehouse)
        assert second.created == []
        # only the login is a POST the second time: nothing is created or changed
        assert FakeMetabase.state["writes"][writes:] == [("POST", "/api/session")]
    finally:
        server.shutdown()


def _docker_engine() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no `docker` command"
    probe = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or not probe.stdout.strip():
        return "no Docker engine reachable (`docker info` failed)"
    compose = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if compose.returncode != 0:
        return "no `docker compose` plugin"
    return None


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.skipif(_docker_engine() is not None, reason=f"compose stack: {_docker_engine()}")
def test_compose_stack_runs_the_pipeline_end_to_end() -> None:
    from testcontainers.compose import DockerCompose

    from sandbox.compose import ComposeStack
    from sandbox.demo import run_demo
    from sandbox.settings import Settings

    settings = Settings(profile="compose")
    with DockerCompose(
        str(ROOT / "compose"), compose_file_name="docker-compose.yml", wait=True, build=True
    ):
        result = run_demo(
            settings, scale=0.05, changes=300, stack=ComposeStack(settings), step=lambda m: None
        )
        assert result.cdc_changes == result.changes
        assert Path(result.report).exists()
