"""The compose profile: ``docker compose`` drives S3, Spark, Postgres and Metabase.

Same interface as the embedded stack (``up``, ``down``, ``status``, ``reset``), so the
CLI and the demo do not care which one runs; only settings (ports) differ.

One source of truth for what the containers get: the project's ``.env`` (after the
shell environment) for credentials, the host-side settings for ports. Every
``docker compose`` call passes both, so the ports compose publishes are the ports the
host side connects to, on the first ``up`` and on every later one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.platform.errors import SandboxError
from sandbox.platform.private import write_private
from sandbox.platform.progress import Progress, quiet
from sandbox.platform.settings import PROJECT_ROOT, Settings
from sandbox.platform.stack import ServiceStatus, State

COMPOSE_FILE = PROJECT_ROOT / "compose" / "docker-compose.yml"
ENV_FILE = PROJECT_ROOT / ".env"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
PROJECT_NAME = "lakehouse-sandbox"

# compose service -> the name `status` shows (the same names as the embedded stack)
SERVICES = {
    "postgres": "postgres",
    "minio": "s3",
    "seaweedfs": "s3",
    "spark": "spark",
    "metabase": "metabase",
}
S3_SERVICES = ("minio", "seaweedfs")

# Settings field -> (compose service, container port) it must be published from.
PUBLISHED_PORTS = {
    "postgres_port": ("postgres", 5432),
    "s3_port": ("s3", 9000),
    "spark_port": ("spark", 15002),
    "metabase_port": ("metabase", 3000),
}
# Settings fields the compose file reads, as the SANDBOX_* variables it interpolates.
CREDENTIALS = ("postgres_user", "postgres_password", "s3_access_key", "s3_secret_key")
# Keys of .env.example the first `up` fills with fresh random secrets.
GENERATED_SECRETS = (
    "SANDBOX_POSTGRES_PASSWORD",
    "SANDBOX_S3_SECRET_KEY",
    "METABASE_ADMIN_PASSWORD",
)


class DockerUnavailableError(SandboxError):
    """No Docker engine (or no compose plugin) to run the compose profile."""


def new_secret() -> str:
    """A random secret of 24 URL-safe characters with a lower, an upper and a digit.

    The classes are guaranteed because Metabase's default password rule refuses a
    password without a digit (about 1.7 % of plain ``token_urlsafe(18)`` values).
    """
    while True:
        candidate = secrets.token_urlsafe(18)
        if all(any(c in group for c in candidate) for group in _SECRET_CLASSES):
            return candidate


_SECRET_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


def ensure_env_file(env_file: Path, example: Path = ENV_EXAMPLE) -> bool:
    """Create ``.env`` from ``.env.example`` with fresh secrets; False if it existed.

    In an existing file only the generated secrets left empty are filled (an empty one
    never works, e.g. after copying ``.env.example`` by hand); nothing else changes.
    """
    created = not env_file.exists()
    lines, filled = [], False
    for line in (example if created else env_file).read_text().splitlines():
        key, _, value = line.partition("=")
        if key in GENERATED_SECRETS and (created or not value.strip()):
            line = f"{key}={new_secret()}"
            filled = True
        lines.append(line)
    if created or filled:
        write_private(env_file, "\n".join(lines) + "\n")
    return created


# The credentials `sandbox credentials` replaces when they hold a default (or nothing).
DEFAULT_SECRETS = {
    "SANDBOX_POSTGRES_PASSWORD": "sandbox",
    "SANDBOX_S3_SECRET_KEY": "sandbox-secret",
    "SANDBOX_AIRFLOW_PASSWORD": "admin",
}


def generate_credentials(env_file: Path = ENV_FILE) -> list[str]:
    """Give every credential of ``DEFAULT_SECRETS`` still at its default a fresh secret, in
    ``env_file`` (created from ``.env.example`` if absent, mode 600). Returns the names
    changed; values someone chose are kept."""
    ensure_env_file(env_file)
    lines, changed, seen = [], [], set()
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key in DEFAULT_SECRETS:
            seen.add(key)
            if value.strip() in {"", DEFAULT_SECRETS[key]}:
                line = f"{key}={new_secret()}"
                changed.append(key)
        lines.append(line)
    for key in DEFAULT_SECRETS.keys() - seen:
        lines.append(f"{key}={new_secret()}")
        changed.append(key)
    write_private(env_file, "\n".join(lines) + "\n")
    return sorted(changed)


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` pairs of a dotenv file (comments and blank lines skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip("'\"")
    return out


def published_ports(config: dict[str, Any]) -> dict[str, dict[int, tuple[str, int]]]:
    """service -> {container port: (host ip, host port)} from ``compose config`` JSON."""
    out: dict[str, dict[int, tuple[str, int]]] = {}
    for name, svc in config.get("services", {}).items():
        for port in svc.get("ports", []):
            out.setdefault(name, {})[int(port["target"])] = (
                port.get("host_ip", ""),
                int(port["published"]),
            )
    return out


class ComposeStack:
    """The compose profile: ``docker compose`` over ``compose.yaml`` with the settings'
    values, for up, down, status and logs."""

    def __init__(
        self, settings: Settings, *, env_file: Path | None = None, compose_file: Path | None = None
    ) -> None:
        self.settings = settings
        self.env_file = env_file or ENV_FILE
        self.compose_file = compose_file or COMPOSE_FILE

    # -- what compose is given --------------------------------------------------

    def compose_environment(self) -> dict[str, str]:
        """The environment of every ``docker compose`` call: the host side's values.

        Variables from the shell win over ``--env-file`` in compose's interpolation, so
        the ports and credentials set here are the ones the containers get.
        """
        s = self.settings
        env = dict(os.environ)
        for field in PUBLISHED_PORTS:
            env[f"SANDBOX_{field.upper()}"] = str(getattr(s, field))
        env["SANDBOX_POSTGRES_USER"] = s.postgres_user
        env["SANDBOX_POSTGRES_PASSWORD"] = s.postgres_password.get_secret_value()
        env["SANDBOX_S3_ACCESS_KEY"] = s.s3_access_key
        env["SANDBOX_S3_SECRET_KEY"] = s.s3_secret_key.get_secret_value()
        return env

    def adopt_env_file(self) -> list[str]:
        """Take the credentials of ``.env`` (after the shell environment) into settings.

        The CLI resolves settings before the first ``up`` writes ``.env``; without this
        the host side would keep the default secrets while the volumes are initialised
        with the new ones. Changes ``self.settings`` in place (the caller's object, so
        the demo that follows uses them too) and returns the fields that changed.
        """
        resolved = Settings(_env_file=self.env_file, profile="compose")
        changed = [f for f in CREDENTIALS if getattr(resolved, f) != getattr(self.settings, f)]
        for field in changed:
            setattr(self.settings, field, getattr(resolved, field))
        return changed

    def metabase_admin(self):
        """The Metabase admin account of ``.env`` (shell environment first)."""
        from sandbox.serve.metabase import MetabaseAdmin, check_password

        env = read_env_file(self.env_file)
        email = os.environ.get("METABASE_ADMIN_EMAIL") or env.get("METABASE_ADMIN_EMAIL")
        password = os.environ.get("METABASE_ADMIN_PASSWORD") or env.get(
            "METABASE_ADMIN_PASSWORD", ""
        )
        check_password(password, where=f"METABASE_ADMIN_PASSWORD in {self.env_file}")
        return MetabaseAdmin(email or "admin@sandbox.local", password)

    def _compose(self, *args: str) -> subprocess.CompletedProcess:
        docker = shutil.which("docker")
        if docker is None:
            raise DockerUnavailableError(
                "compose profile: `docker` is not installed; use the embedded profile "
                "(the default) or install Docker with the compose plugin"
            )
        argv = [docker, "compose", "--project-name", PROJECT_NAME, "-f", str(self.compose_file)]
        if self.env_file.exists():  # `down` or `status` may come before the first `up`
            argv += ["--env-file", str(self.env_file)]
        argv += list(args)
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, env=self.compose_environment()
        )
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()[-3:]
            if any("Cannot connect to the Docker daemon" in m for m in message):
                raise DockerUnavailableError("compose profile: no Docker engine is reachable")
            if any("is not a docker command" in m for m in message):
                raise DockerUnavailableError("compose profile: the compose plugin is missing")
            raise SandboxError(f"docker compose {' '.join(args)} failed: {' '.join(message)}")
        return result

    def config(self) -> dict[str, Any]:
        """The compose file as compose resolves it (profiles, interpolation); no engine."""
        return json.loads(self._compose("config", "--format", "json").stdout)

    def check_config(self, config: dict[str, Any]) -> None:
        """Refuse a resolved file whose S3 service or ports differ from the host side."""
        services = config.get("services", {})
        s3 = [name for name in S3_SERVICES if name in services]
        if len(s3) != 1:
            raise SandboxError(
                f"compose profile: COMPOSE_PROFILES in {self.env_file} must enable exactly one "
                f"S3 service (minio or seaweedfs), got {s3 or 'none'}"
            )
        ports = published_ports(config)
        for field, (service, target) in PUBLISHED_PORTS.items():
            name = s3[0] if service == "s3" else service
            host_ip, published = ports.get(name, {}).get(target, ("", None))
            expected = getattr(self.settings, field)
            if published != expected or host_ip != "127.0.0.1":
                raise SandboxError(
                    f"compose profile: {name} publishes {host_ip}:{published} but the host "
                    f"side uses {self.settings.host}:{expected} (SANDBOX_{field.upper()})"
                )

    # -- the stack interface ----------------------------------------------------

    def up(
        self, progress: Progress = quiet, *, on_ready: Callable[[str], None] | None = None
    ) -> list[ServiceStatus]:
        """Start the stack: ``.env``, settings, compose, buckets, Metabase, in that order.

        ``on_ready`` is the embedded stack's hook; compose waits for every service at
        once, so it is not called.
        """
        if ensure_env_file(self.env_file):
            progress(f"created {self.env_file} with fresh secrets")
        changed = self.adopt_env_file()
        if changed:
            progress(f"settings: {', '.join(changed)} taken from {self.env_file}")
        admin = self.metabase_admin()
        self.check_config(self.config())
        progress("docker compose up --build --wait (the first start builds the Spark image)")
        self._compose("up", "-d", "--build", "--wait")
        from sandbox.platform.services import s3
        from sandbox.serve import metabase

        try:
            s3.ensure_buckets(self.settings)
        except Exception as exc:  # minio/urllib3 raise several kinds; name the step
            raise SandboxError(f"compose profile: could not create the buckets: {exc}") from exc
        s = self.settings
        report = metabase.provision(
            f"http://{s.host}:{s.metabase_port}",
            admin,
            metabase.warehouse_connection(s),
        )
        progress(f"metabase: created {report.created or 'nothing'}, kept {len(report.kept)}")
        return self.status()

    def down(self, progress: Progress = quiet) -> None:
        self._compose("down")
        progress("compose services stopped (volumes kept)")

    def reset(self, progress: Progress = quiet) -> None:
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
            state: State = "stopped"
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
