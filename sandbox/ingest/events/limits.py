"""What Firehose refuses at the door, as AWS does: a record over 1,000 KiB, a batch over
500 records or 4 MiB. The request is refused whole, with AWS's own wording."""

from __future__ import annotations

from sandbox.platform.errors import SandboxError

# PutRecord/PutRecordBatch limits: a record's data up to 1,000 KiB, a batch up to 500
# records and 4 MiB (https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html,
# https://docs.aws.amazon.com/firehose/latest/dev/limits.html).
MAX_RECORD_BYTES = 1_024_000
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024


class FirehoseValidationError(SandboxError):
    """A request Firehose refuses whole, as AWS does: ``ValidationException`` with the
    service's own wording, e.g. (captured from AWS in osquery/osquery#3568)
    ``1 validation error detected: Value '...' at 'records.97.member.data' failed to
    satisfy constraint: Member must have length less than or equal to 1024000``."""

    code = "ValidationException"

    def __init__(self, problems: list[str]) -> None:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{self.code}: {count} validation {noun} detected: {'; '.join(problems)}")
        self.problems = problems


def _too_long(where: str, size: int, limit: int) -> str:
    return (
        f"Value 'java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]' at '{where}' failed "
        f"to satisfy constraint: Member must have length less than or equal to {limit}"
    )


def check_limits(records: list[bytes], *, batch: bool) -> None:
    """Raise :class:`FirehoseValidationError` where AWS refuses the request.

    ``batch``: a PutRecordBatch (records named ``records.N.member.data``, 1-based, and the
    500-record and 4 MiB request limits); else a PutRecord (``record.data``).
    """
    problems = [
        _too_long(f"records.{i}.member.data" if batch else "record.data", len(r), MAX_RECORD_BYTES)
        for i, r in enumerate(records, start=1)
        if len(r) > MAX_RECORD_BYTES
    ]
    if batch and len(records) > MAX_BATCH_RECORDS:
        problems.append(
            f"Value at 'records' failed to satisfy constraint: Member must have length less "
            f"than or equal to {MAX_BATCH_RECORDS}"
        )
    if batch and sum(map(len, records)) > MAX_BATCH_BYTES:
        problems.append(
            f"the request's records total {sum(map(len, records))} bytes, over the "
            f"{MAX_BATCH_BYTES}-byte (4 MiB) limit of a PutRecordBatch request"
        )
    if problems:
        raise FirehoseValidationError(problems)
