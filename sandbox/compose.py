"""The compose profile: ``docker compose`` drives MinIO, Spark, Postgres and Metabase.

Same interface as the embedded stack (``up``, ``down``, ``status``, ``reset``), so the
CLI and the demo do not care which one runs; only settings (ports) differ.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from sandbox.services.base import SandboxError
from sandbox.settings import Settings
from sandbox.stack import ServiceStatus

ROOT = Path(__file__).parents[1]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
Progress = Callable[[str], None]

# compose service -> the name `status` shows (the same names as the embedded stack)
SERVICES = {
    "postgres": "postgres",
    "minio": "s3",
    "seaweedfs": "s3",
    "spark": "spark",
    "metabase": "metabase",
}


class DockerUnavailableError(SandboxError):
    """No Docker engine (or no compose plugin) to run the compose profile."""


def _quiet(_: str) -> None:
    pass


def ensure_env_file(env_file: Path, example: Path) -> bool:
    """Create ``.env`` from ``.env.example`` with fresh secrets; False if it existed."""
    if env_file.exists():
        return False
    lines = []
    for line in example.read_text().splitlines():
        key = line.split("=", 1)[0]
        if key in ("SANDBOX_POSTGRES_PASSWORD", "SANDBOX_S3_SECRET_KEY", "METABASE_ADMIN_PASSWORD"):
            line = f"{key}={secrets.token_urlsafe(18)}"
        lines.append(line)
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    return True


class ComposeStack:
    def __init__(self, settings: Settings, *, env_file: Path | None = None) -> None:
        self.settings = settings
        self.env_file = env_file or ROOT / ".env"

    def _compose(self, *args: str) -> subprocess.CompletedProcess:
        docker = shutil.which("docker")
        if docker is None:
            raise DockerUnavailableError(
                "compose profile: `docker` is not installed; use the embedded profile "
                "(the default) or install Docker with the compose plugin"
            )
        argv = [
            docker,
            "compose",
            "--project-name",
            "lakehouse-sandbox",
            "-f",
            str(COMPOSE_FILE),
            "--env-file",
            str(self.env_file),
            *args,
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()[-3:]
            if any("Cannot connect to the Docker daemon" in m for m in message):
                raise DockerUnavailableError("compose profile: no Docker engine is reachable")
            raise SandboxError(f"docker compose {' '.join(args)} failed: {' '.join(message)}")
        return result

    def up(self, progress: Progress = _quiet) -> list[ServiceStatus]:
        if ensure_env_file(self.env_file, ROOT / ".env.example"):
            progress(f"created {self.env_file} with fresh secrets")
        progress("docker compose up --build --wait (first start builds the Spark image)")
        self._compose("up", "-d", "--build", "--wait")
        from sandbox.metabase import MetabaseAdmin, provision
        from sandbox.services.s3 import ensure_buckets

        ensure_buckets(self.settings)  # the seaweedfs profile has no bucket job
        env = _read_env(self.env_file)
        s = self.settings
        report = provision(
            f"http://{s.host}:{s.metabase_port}",
            MetabaseAdmin(
                env.get("METABASE_ADMIN_EMAIL", "admin@sandbox.local"),
                env.get("METABASE_ADMIN_PASSWORD", ""),
            ),
            {
                "engine": "postgres",
                "name": "warehouse",
                "details": {
                    "host": "postgres",
                    "port": 5432,
                    "dbname": s.warehouse_db,
                    "user": s.postgres_user,
                    "password": s.postgres_password.get_secret_value(),
                    "schema-filters-type": "inclusion",
                    "schema-filters-patterns": "gold",
                },
            },
        )
        progress(f"metabase: created {report.created or 'nothing'}, kept {len(report.kept)}")
        return self.status()

    def down(self, progress: Progress = _quiet) -> None:
        self._compose("down")
        progress("compose services stopped (volumes kept)")

    def reset(self, progress: Progress = _quiet) -> None:
        self._compose("down", "--volumes")
        progress("compose services and volumes removed")

    def status(self) -> list[ServiceStatus]:
        try:
            out = self._compose("ps", "--all", "--format", "json").stdout
        except DockerUnavailableError:
            out = ""
        rows = [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]
        by_name = {r.get("Service"): r for r in rows}
        s = self.settings
        endpoints = {
            "postgres": s.postgres_url(s.warehouse_db).split("@")[-1],
            "s3": s.s3_endpoint,
            "spark": s.spark_remote,
            "metabase": f"http://{s.host}:{s.metabase_port}",
        }
        statuses = []
        for name in ("postgres", "s3", "spark", "metabase"):
            row = next((r for svc, r in by_name.items() if SERVICES.get(svc) == name), None)
            state = "stopped"
            if row is not None:
                running = row.get("State") == "running"
                unhealthy = row.get("Health") == "unhealthy"
                state = (
                    "running"
                    if running and not unhealthy
                    else ("failed" if unhealthy or row.get("ExitCode") else "stopped")
                )
            statuses.append(ServiceStatus(name, state, endpoints[name], None))
        return statuses


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out
