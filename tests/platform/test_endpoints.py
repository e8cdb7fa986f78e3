"""Endpoints named by URL: parsed, checked and shown without their secrets (issue #35)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from sandbox.platform import endpoints
from sandbox.platform.settings import Settings, SettingsError, load_settings


def test_a_spark_connect_url_gives_its_host_and_port() -> None:
    assert endpoints.spark_address("sc://127.0.0.1:50051") == ("127.0.0.1", 50051)
    assert endpoints.spark_address("sc://spark.example") == ("spark.example", 15002)
    assert endpoints.spark_address("sc://spark.example:443/;use_ssl=true;token=t0k") == (
        "spark.example",
        443,
    )
    assert endpoints.spark_address("sc://[::1]:15002/;token=x") == ("::1", 15002)


@pytest.mark.parametrize(
    "url",
    ["http://spark:15002", "sc://spark:15002;token=s3cr3t", "sc://spark;token=s3cr3t", "sc://:1"],
)
def test_a_malformed_spark_url_is_refused_without_its_token(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        endpoints.spark_address(url)
    assert "s3cr3t" not in str(refused.value)


def test_a_token_is_hidden_wherever_it_is() -> None:
    shown = endpoints.shown_spark_url("sc://h:1/;use_ssl=true;token=abc;user_id=me")
    assert shown == "sc://h:1/;use_ssl=true;token=…;user_id=me"
    assert "abc" not in endpoints.shown_spark_url("sc://h:1/;TOKEN=abc")


def test_an_s3_url_is_an_endpoint_or_aws() -> None:
    assert endpoints.check_s3_url("https://minio.example:9000/") == "https://minio.example:9000"
    assert endpoints.check_s3_url("aws") == "aws"
    for bad in ("ftp://x", "https://key:secret@minio", "https://minio:90x0", "https://m/raw"):
        with pytest.raises(ValueError) as refused:
            endpoints.check_s3_url(bad)
        assert "secret" not in str(refused.value).replace("SECRET_KEY", "")


def test_a_warehouse_url_is_shown_without_its_password() -> None:
    shown = endpoints.shown_libpq_url("postgresql://etl:pw@[::1]:5439/analytics?sslmode=require")
    assert shown == "postgresql://etl@[::1]:5439/analytics"


def test_aws_mode_signs_with_the_credential_chain_unless_a_key_of_ones_own_is_set() -> None:
    chain = Settings(_env_file=None, s3_url="aws", s3_access_key="sandbox")  # .env.example's
    assert chain.s3_keys() is None
    assert "AWS_ACCESS_KEY_ID" not in chain.s3_storage_options()
    assert "AWS_ENDPOINT_URL" not in chain.s3_storage_options()  # each SDK's own AWS default
    own = Settings(_env_file=None, s3_url="aws", s3_access_key="AKIAEXAMPLE")
    assert own.s3_keys() == ("AKIAEXAMPLE", "sandbox-secret")
    assert Settings(_env_file=None).s3_keys() == ("sandbox", "sandbox-secret")


def test_secret_urls_do_not_reach_a_childs_environment() -> None:
    s = Settings(
        _env_file=None,
        spark_url=SecretStr("sc://spark:15002/;token=t0k"),
        warehouse_url=SecretStr("postgresql://u:pw@wh:5439/db"),
        s3_url="https://minio.example",
    )
    env = s.as_env()
    assert "SANDBOX_SPARK_URL" not in env and "SANDBOX_WAREHOUSE_URL" not in env
    assert env["SANDBOX_S3_URL"] == "https://minio.example"
    assert not any("t0k" in v or ":pw@" in v for v in env.values())


def test_a_bad_secret_url_is_named_but_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_WAREHOUSE_URL", "mysql://u:hunter2@db/x")
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None)
    assert "SANDBOX_WAREHOUSE_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_urls_are_refused_in_the_compose_profile() -> None:
    with pytest.raises(ValueError, match="SANDBOX_S3_URL: endpoints named by URL"):
        Settings(_env_file=None, profile="compose", s3_url="https://minio.example")
