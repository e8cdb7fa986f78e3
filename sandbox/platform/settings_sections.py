"""The nested settings: the DMS task, SNS/Firehose delivery and the bronze job.

Each is a field of :class:`sandbox.platform.settings.Settings`, set from the environment
with a double underscore (``SANDBOX_DMS__SLOT_NAME``, ``SANDBOX_FIREHOSE__PREFIX``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

__all__ = ["BronzeSettings", "DmsSettings", "FirehoseSettings"]


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
