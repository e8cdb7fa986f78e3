"""The one typed settings object of the sandbox.

Settings are resolved once, at the edge (the CLI, a notebook's first cell, a test
fixture), and passed down. Every field can be set from the environment with the
``SANDBOX_`` prefix (``SANDBOX_POSTGRES_PORT=6543``) or from a ``.env`` file in the
working directory; ``.env.example`` lists them all.

Two profiles share the same fields. ``embedded`` (default) runs the services as
local processes installed from PyPI; ``compose`` points at the Docker Compose stack
in ``compose/``. A field the user did not set takes the default of the active
profile, so switching profile is one variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["embedded", "compose"]

# Defaults that differ in the compose profile: the ports that compose/ publishes on
# 127.0.0.1. Anything not listed here is the same in both profiles.
COMPOSE_DEFAULTS: dict[str, Any] = {
    "postgres_port": 5432,
    "s3_port": 9000,
    "spark_port": 15002,
    "metabase_port": 3000,
}


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
    max_file_size_kb: int = 1_048_576  # MaxFileSize (full load), 1 GB as in DMS
    cdc_max_batch_interval_s: float = 1.0  # CdcMaxBatchInterval (60 s in AWS)
    max_batch_changes: int = 100_000

    @model_validator(mode="after")
    def _one_cdc_filter(self) -> DmsSettings:
        if self.cdc_inserts_only and self.cdc_inserts_and_updates:
            raise ValueError("dms: set cdc_inserts_only or cdc_inserts_and_updates, not both")
        return self


class FirehoseSettings(BaseModel):
    """SNS subscriptions and Firehose delivery streams (``SANDBOX_FIREHOSE__*``)."""

    buffer_size_mib: float = 5.0  # BufferingHints.SizeInMBs (1-128 in AWS)
    buffer_interval_s: float = 60.0  # BufferingHints.IntervalInSeconds (60-900 in AWS)
    compress: bool = False  # CompressionFormat GZIP
    newline_delimiter: bool = True  # the AppendDelimiterToRecord processor
    raw_message_delivery: bool = False  # on the SNS subscription
    prefix: str = "events"
    error_prefix: str = "events-errors"


class Settings(BaseSettings):
    """Where every service listens, how to reach it, and where runtime state lives."""

    model_config = SettingsConfigDict(
        env_prefix="SANDBOX_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    profile: Profile = "embedded"
    home: Path = Field(
        default=Path(".sandbox"),
        description="Runtime state (data, logs, pids); gitignored. Relative to the working dir.",
    )
    host: str = Field(default="127.0.0.1", description="Every service binds to this address.")

    # Postgres: the `app` database is the DMS source, `warehouse` the Redshift stand-in.
    postgres_port: int = 15432
    postgres_user: str = "sandbox"
    postgres_password: SecretStr = SecretStr("sandbox")
    postgres_version: Literal[16, 18] = 16
    app_db: str = "app"
    warehouse_db: str = "warehouse"

    # S3 (SeaweedFS in embedded, MinIO in compose).
    s3_port: int = 18333
    s3_access_key: str = "sandbox"
    s3_secret_key: SecretStr = SecretStr("sandbox-secret")
    s3_region: str = "us-east-1"
    raw_bucket: str = "raw"
    lake_bucket: str = "lake"
    # SeaweedFS internals; each also opens a gRPC port at +10000.
    seaweed_master_port: int = 19333
    seaweed_volume_port: int = 18080
    seaweed_filer_port: int = 18888

    # Spark Connect (Sail in embedded, Apache Spark in compose).
    spark_port: int = 50051

    metabase_port: int = 3000

    dms: DmsSettings = Field(default_factory=DmsSettings)
    firehose: FirehoseSettings = Field(default_factory=FirehoseSettings)

    stop_timeout_s: float = Field(
        default=8.0,
        description="Grace period after the polite stop signal before SIGKILL.",
    )

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
        """Absolute path of the runtime folder."""
        return self.home.expanduser().resolve()

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
    def spark_remote(self) -> str:
        return f"sc://{self.host}:{self.spark_port}"

    def postgres_url(self, database: str | None = None) -> str:
        """A libpq URL for ``database`` (default: the ``app`` database)."""
        db = database or self.app_db
        password = self.postgres_password.get_secret_value()
        return f"postgresql://{self.postgres_user}:{password}@{self.host}:{self.postgres_port}/{db}"

    def s3_storage_options(self) -> dict[str, str]:
        """Object-store options in the form delta-rs and object_store understand."""
        return {
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key.get_secret_value(),
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_REGION": self.s3_region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        }

    def as_env(self) -> dict[str, str]:
        """This home and its ports as ``SANDBOX_*`` variables, for a child CLI or kernel."""
        names = [
            "home",
            "postgres_port",
            "s3_port",
            "seaweed_master_port",
            "seaweed_volume_port",
            "seaweed_filer_port",
            "spark_port",
            "app_db",
        ]
        env = {f"SANDBOX_{n.upper()}": str(getattr(self, n)) for n in names}
        for field in ("slot_name", "publication", "bucket_folder"):
            env[f"SANDBOX_DMS__{field.upper()}"] = str(getattr(self.dms, field))
        return env

    def raw_uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.raw_bucket}", *parts])

    def lake_uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.lake_bucket}", *parts])


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from the environment, ``.env`` and explicit overrides."""
    return Settings(**overrides)
