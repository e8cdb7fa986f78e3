from pathlib import Path

import pytest

from sandbox.settings import COMPOSE_DEFAULTS, Settings


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
    example = (Path(__file__).parents[1] / ".env.example").read_text()
    for name, info in Settings.model_fields.items():
        nested = getattr(info.annotation, "model_fields", None)
        if nested:
            for sub in nested:
                assert f"SANDBOX_{name.upper()}__{sub.upper()}=" in example, f"{name}.{sub}"
        else:
            assert f"SANDBOX_{name.upper()}=" in example, name
