"""The first ``sandbox up --profile compose``, without an engine, and the real stack.

A stand-in ``docker`` on PATH records every call (and hands ``config`` to the real
Compose parser); bucket creation and Metabase provisioning are replaced by recorders
that write to the same log, so the test sees the order of everything ``up`` does.
"""

from __future__ import annotations

import json
import shutil
import string
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.platform import compose
from sandbox.platform.compose import (
    ENV_EXAMPLE,
    ComposeStack,
    DockerUnavailableError,
    ensure_env_file,
    new_secret,
    read_env_file,
)
from sandbox.platform.settings import Settings
from tests.platform.test_compose_file import clean_env, docker_calls  # noqa: F401


def test_env_file_is_created_once_with_fresh_secrets(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert ensure_env_file(env, ENV_EXAMPLE)
    values = read_env_file(env)
    for key in compose.GENERATED_SECRETS:
        assert len(values[key]) >= 20 and values[key] not in ("sandbox", "sandbox-secret")
    assert env.stat().st_mode & 0o777 == 0o600
    # no port is pinned: each profile keeps its own defaults
    assert not any(
        k.endswith("_PORT") and k.startswith("SANDBOX_") and "SEAWEED" not in k for k in values
    )
    env.write_text("SANDBOX_POSTGRES_PASSWORD=mine\n")
    assert not ensure_env_file(env, ENV_EXAMPLE)  # never overwritten
    assert env.read_text() == "SANDBOX_POSTGRES_PASSWORD=mine\n"


def test_a_hand_copied_env_gets_only_its_empty_secrets_filled(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    shutil.copy(ENV_EXAMPLE, env)
    assert not ensure_env_file(env, ENV_EXAMPLE)
    values, example = read_env_file(env), read_env_file(ENV_EXAMPLE)
    assert example["METABASE_ADMIN_PASSWORD"] == ""
    assert len(values["METABASE_ADMIN_PASSWORD"]) >= 20
    assert {k: v for k, v in values.items() if k != "METABASE_ADMIN_PASSWORD"} == {
        k: v for k, v in example.items() if k != "METABASE_ADMIN_PASSWORD"
    }


def test_every_generated_secret_passes_metabase_password_rule() -> None:
    from sandbox.serve.metabase import check_password

    for _ in range(2000):  # plain token_urlsafe(18) misses a digit about 1.7 % of the time
        secret = new_secret()
        check_password(secret, where="a generated secret")
        assert any(c in string.ascii_uppercase for c in secret)


@pytest.fixture
def recorded_up(clean_env: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """`sandbox up --profile compose` in a scratch checkout; returns (run, log, env file)."""
    from sandbox.cli import app
    from sandbox.platform.services import s3
    from sandbox.serve import metabase

    env_file = clean_env / ".env"
    log = clean_env / "docker-calls.jsonl"
    monkeypatch.setattr(compose, "ENV_FILE", env_file)
    # the CLI's settings read the project's .env: here, the scratch checkout's
    monkeypatch.setitem(Settings.model_config, "env_file", env_file)

    def record(event: dict) -> None:
        with log.open("a") as f:
            f.write(json.dumps(event) + "\n")

    def buckets(settings: Settings) -> None:
        record(
            {
                "step": "buckets",
                "port": settings.s3_port,
                "secret": settings.s3_secret_key.get_secret_value(),
            }
        )

    def provision(base_url: str, admin, warehouse: dict):
        record(
            {
                "step": "metabase",
                "url": base_url,
                "admin_password": admin.password,
                "db_password": warehouse["details"]["password"],
            }
        )
        return metabase.ProvisionReport(created=["admin"])

    monkeypatch.setattr(s3, "ensure_buckets", buckets)
    monkeypatch.setattr(metabase, "provision", provision)
    runner = CliRunner()

    def run():
        result = runner.invoke(app, ["up", "--profile", "compose"])
        assert result.exit_code == 0, result.output
        return result.output

    return run, log, env_file


def _steps(log: Path) -> list[dict]:
    out = []
    for call in docker_calls(log):
        if "args" in call:
            verb = next(a for a in call["args"][1:] if a in ("config", "up", "ps", "down"))
            call = call | {"step": verb}
        out.append(call)
    return out


def test_first_up_writes_env_then_hands_the_same_values_to_every_step(recorded_up) -> None:
    run, log, env_file = recorded_up
    assert not env_file.exists()
    output = run()
    assert f"created {env_file}" in " ".join(output.split())  # rich wraps a long path
    secrets = read_env_file(env_file)
    steps = _steps(log)
    assert [s["step"] for s in steps] == ["config", "up", "buckets", "metabase", "ps"]
    config, up = steps[0], steps[1]
    assert up["args"][-4:] == ["up", "-d", "--build", "--wait"]
    assert up["args"][up["args"].index("--env-file") + 1] == str(env_file)
    for call in (config, up):
        env = call["env"]
        assert env["SANDBOX_POSTGRES_PASSWORD"] == secrets["SANDBOX_POSTGRES_PASSWORD"]
        assert env["SANDBOX_S3_SECRET_KEY"] == secrets["SANDBOX_S3_SECRET_KEY"]
        assert [env[f"SANDBOX_{p}_PORT"] for p in ("POSTGRES", "S3", "SPARK", "METABASE")] == [
            "5432",
            "9000",
            "15002",
            "3000",
        ]
    assert steps[2] == {"step": "buckets", "port": 9000, "secret": secrets["SANDBOX_S3_SECRET_KEY"]}
    assert steps[3] == {
        "step": "metabase",
        "url": "http://127.0.0.1:3000",
        "admin_password": secrets["METABASE_ADMIN_PASSWORD"],
        "db_password": secrets["SANDBOX_POSTGRES_PASSWORD"],
    }


def test_later_up_reads_the_same_env_and_changes_nothing(recorded_up) -> None:
    run, log, env_file = recorded_up
    run()
    before = env_file.read_text()
    first = _steps(log)
    log.unlink()
    output = run()  # the CLI's settings now load the .env the first run wrote
    assert "created" not in output.split("metabase:")[0]
    assert "taken from" not in output  # the CLI's settings already had the secrets
    assert env_file.read_text() == before
    again = _steps(log)
    assert [s["step"] for s in again] == [s["step"] for s in first]
    assert again[1]["env"] == first[1]["env"]
    assert again[2:4] == first[2:4]


def test_a_placeholder_admin_password_stops_up_before_docker(recorded_up) -> None:
    _, log, env_file = recorded_up
    env_file.write_text(
        ENV_EXAMPLE.read_text().replace("METABASE_ADMIN_PASSWORD=", "METABASE_ADMIN_PASSWORD=x")
    )
    from sandbox.cli import app

    result = CliRunner().invoke(app, ["up", "--profile", "compose"])
    assert result.exit_code == 1
    assert "METABASE_ADMIN_PASSWORD" in result.output and "digit" in result.output
    assert docker_calls(log) == []


def test_down_and_status_work_before_the_first_up(clean_env: Path) -> None:  # noqa: F811
    stack = ComposeStack(Settings(profile="compose"), env_file=clean_env / ".env")
    stack.down()
    assert [s.state for s in stack.status()] == ["stopped"] * 4
    calls = docker_calls(clean_env / "docker-calls.jsonl")
    assert [c["args"][-1] for c in calls] == ["down", "json"]
    assert not any("--env-file" in c["args"] for c in calls)
    assert not (clean_env / ".env").exists()


def test_no_docker_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    stack = ComposeStack(Settings(_env_file=None, profile="compose"), env_file=tmp_path / ".env")
    with pytest.raises(DockerUnavailableError, match="`docker` is not installed"):
        stack.config()


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
    compose_plugin = subprocess.run(
        [docker, "compose", "version"], capture_output=True, check=False
    )
    if compose_plugin.returncode != 0:
        return "no `docker compose` plugin"
    return None


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.skipif(_docker_engine() is not None, reason=f"compose stack: {_docker_engine()}")
def test_compose_stack_runs_the_pipeline_end_to_end() -> None:
    """The whole first-`up` flow on a real engine, then the demo, then `down`."""
    from sandbox.orchestrate.demo import run_demo

    settings = Settings(profile="compose")
    stack = ComposeStack(settings)
    try:
        result = run_demo(settings, scale=0.05, changes=300, stack=stack, step=lambda m: None)
        assert result.cdc_changes == result.changes
        assert Path(result.report).exists()
    finally:
        stack.down()
