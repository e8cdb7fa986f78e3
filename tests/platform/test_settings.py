from pathlib import Path

import pytest

from sandbox.platform.settings import (
    COMPOSE_DEFAULTS,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    load_settings,
)
from sandbox.platform.variables import unknown_variables


def test_env_prefix_sets_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_POSTGRES_PORT", "6543")
    monkeypatch.setenv("SANDBOX_HOME", "/tmp/elsewhere")
    s = Settings(_env_file=None)
    assert s.postgres_port == 6543
    assert s.runtime_dir == Path("/tmp/elsewhere")
    assert s.data_dir == Path("/tmp/elsewhere/data")


def test_compose_profile_takes_its_own_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PROFILE", "compose")
    s = Settings(_env_file=None)
    assert s.profile == "compose"
    for key, value in COMPOSE_DEFAULTS.items():
        assert getattr(s, key) == value, key
    assert s.spark_remote == f"sc://127.0.0.1:{COMPOSE_DEFAULTS['spark_port']}"


def test_explicit_port_wins_over_profile_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PROFILE", "compose")
    monkeypatch.setenv("SANDBOX_S3_PORT", "9100")
    assert Settings(_env_file=None).s3_port == 9100


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("SANDBOX_SPARK_PORT=51000\nSANDBOX_RAW_BUCKET=landing\n")
    s = Settings(_env_file=env)
    assert s.spark_port == 51000
    assert s.raw_uri("dms", "app") == "s3://landing/dms/app"


def test_bad_profile_is_named() -> None:
    with pytest.raises(ValueError, match="profile"):
        Settings(_env_file=None, profile="kubernetes")


def test_secrets_do_not_print() -> None:
    s = Settings(_env_file=None, postgres_password="hunter2")
    assert "hunter2" not in repr(s)
    assert "hunter2" in s.postgres_url()


def test_env_example_lists_every_field() -> None:
    example = (PROJECT_ROOT / ".env.example").read_text()
    for name, info in Settings.model_fields.items():
        nested = getattr(info.annotation, "model_fields", None)
        if nested:
            for sub in nested:
                assert f"SANDBOX_{name.upper()}__{sub.upper()}=" in example, f"{name}.{sub}"
        else:
            assert f"SANDBOX_{name.upper()}=" in example, name


def test_postgres_version_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment and .env hold strings: "18" must mean Postgres 18.
    monkeypatch.setenv("SANDBOX_POSTGRES_VERSION", "18")
    assert Settings(_env_file=None).postgres_version == 18


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("SANDBOX_POSTGRES_VERSION", "17", "must be 16 or 18"),
        ("SANDBOX_PROFILE", "kubernetes", "'embedded' or 'compose'"),
        ("SANDBOX_DMS__MAX_FILE_SIZE_KB", "1GB", "valid integer"),
        ("SANDBOX_FIREHOSE__COMPRESS", "maybe", "valid boolean"),
        # numbers out of range: 0 KB files would loop writing empty objects
        ("SANDBOX_DMS__MAX_FILE_SIZE_KB", "0", "greater than or equal to 1"),
        ("SANDBOX_DMS__MAX_BATCH_CHANGES", "0", "greater than or equal to 1"),
        ("SANDBOX_DMS__CDC_MAX_BATCH_INTERVAL_S", "-1", "greater than 0"),
        ("SANDBOX_FIREHOSE__BUFFER_SIZE_MIB", "0", "greater than 0"),
        ("SANDBOX_FIREHOSE__BUFFER_INTERVAL_S", "901", "less than or equal to 900"),
        ("SANDBOX_POSTGRES_PORT", "70000", "less than or equal to 65535"),
        ("SANDBOX_AWS_CLOCK_SPEED", "0", "greater than 0"),
    ],
)
def test_a_bad_setting_names_variable_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, allowed: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{variable}={value!r}" in message and allowed in message


def test_relative_home_is_under_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT / "notebooks")
    assert Settings(_env_file=None, home=".sandbox").runtime_dir == PROJECT_ROOT / ".sandbox"
    assert Settings(_env_file=None, home="/tmp/x").runtime_dir == Path("/tmp/x")


def test_a_misspelt_variable_is_reported_with_the_likely_one() -> None:
    environ = {
        "SANDBOX_POSTGRE_PORT": "1",
        "SANDBOX_DMS__SLOT_NAME": "x",
        "HOME": "/root",
        "SANDBOX_UPDATE_EXPECTED": "1",
        "SANDBOX_FIREHOSE__COMPRES": "true",
    }
    assert unknown_variables(environ) == {
        "SANDBOX_FIREHOSE__COMPRES": "SANDBOX_FIREHOSE__COMPRESS",
        "SANDBOX_POSTGRE_PORT": "SANDBOX_POSTGRES_PORT",
    }


def test_each_port_names_the_variable_that_moves_it() -> None:
    s = Settings(_env_file=None, postgres_port=7001, seaweed_filer_port=7002)
    assert s.port_variable(7001) == "SANDBOX_POSTGRES_PORT"
    assert s.port_variable(17002) == "SANDBOX_SEAWEED_FILER_PORT"  # its gRPC port
    assert s.port_variable(1) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_need_nothing(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("SANDBOX_HOST", host)
    assert load_settings(_env_file=None).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "lab.example"])
def test_a_network_host_is_refused_unless_exposed_with_own_credentials(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    # every service would answer the network with the default keys (sandbox-secret,
    # admin/admin): one line says so and what to do
    monkeypatch.setenv("SANDBOX_HOST", host)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert "is not a loopback address" in str(caught.value) and "SANDBOX_EXPOSE" in str(
        caught.value
    )
    monkeypatch.setenv("SANDBOX_EXPOSE", "true")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "\n" not in message
    for name in ("SANDBOX_POSTGRES_PASSWORD", "SANDBOX_S3_SECRET_KEY", "SANDBOX_AIRFLOW_PASSWORD"):
        assert name in message
    monkeypatch.setenv("SANDBOX_POSTGRES_PASSWORD", "p-9x")
    monkeypatch.setenv("SANDBOX_S3_SECRET_KEY", "s-9x")
    monkeypatch.setenv("SANDBOX_AIRFLOW_PASSWORD", "a-9x")
    assert load_settings(_env_file=None).host == host


def test_credentials_are_generated_into_a_private_env_file(tmp_path: Path) -> None:
    import stat

    from sandbox.platform.compose import generate_credentials, read_env_file

    env = tmp_path / ".env"
    env.write_text(
        "SANDBOX_HOST=0.0.0.0\nSANDBOX_POSTGRES_PASSWORD=sandbox\nSANDBOX_S3_SECRET_KEY=mine\n"
    )
    changed = generate_credentials(env)
    assert changed == ["SANDBOX_AIRFLOW_PASSWORD", "SANDBOX_POSTGRES_PASSWORD"]
    values = read_env_file(env)
    assert values["SANDBOX_S3_SECRET_KEY"] == "mine", "a chosen value is kept"
    assert values["SANDBOX_POSTGRES_PASSWORD"] not in {"", "sandbox"}
    assert len(values["SANDBOX_AIRFLOW_PASSWORD"]) >= 20
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert generate_credentials(env) == [], "run twice, nothing more to change"
