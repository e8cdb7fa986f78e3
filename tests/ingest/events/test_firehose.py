"""Firehose delivery: buffering, keys, error records, crash safety (in-memory S3 twin)."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.ingest.events.firehose import (
    MAX_RECORD_BYTES,
    BufferHints,
    DeliveryStream,
    FirehoseValidationError,
    check_record,
)
from sandbox.ingest.events.schemas import new_event
from sandbox.ingest.events.spool import HEADER

KEY = re.compile(
    r"^events/gameplay-events/(\d{4})/(\d{2})/(\d{2})/(\d{2})/"
    r"gameplay-events-1-(\d{4})-(\d{2})-(\d{2})-(\d{2})-\d{2}-\d{2}-[0-9a-f-]{36}(\.gz)?$"
)


class MemoryS3:
    """The S3 calls DeliveryStream makes, kept in a dict (a unit-test twin)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def put_object(self, bucket, key, data, length, content_type=None):
        self.objects[key] = data.read(length)
        self.puts += 1


def login(player_id: int = 1) -> bytes:
    return json.dumps(new_event("player_login", player_id=player_id, platform="pc")).encode()


def stream(tmp_path: Path, s3: MemoryS3, **kw) -> DeliveryStream:
    return DeliveryStream("gameplay-events", tmp_path / "spool", s3=s3, **kw)


def records_in(s3: MemoryS3, prefix: str = "events/") -> list[bytes]:
    out = []
    for key, body in s3.objects.items():
        if key.startswith(prefix):
            if key.endswith(".gz"):
                body = gzip.decompress(body)
            out += [line for line in body.split(b"\n") if line]
    return out


def test_counts_in_equal_good_plus_errored(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    good = [login(i) for i in range(50)]
    bad = [
        b"{not json",
        json.dumps({"event_type": "teleport", "player_id": 1}).encode(),
        json.dumps({**json.loads(login()), "platform": "fax"}).encode(),
    ]
    fh.put_record_batch(good + bad)
    report = fh.flush(force=True)
    assert (report.delivered, report.failed) == (50, 3)
    assert records_in(s3) == good
    errors = [json.loads(line) for line in records_in(s3, "events-errors/")]
    assert [e["errorCode"] for e in errors] == [
        "InvalidJSON",
        "UnknownEventType",
        "SchemaViolation",
    ]
    assert "teleport" in errors[1]["errorMessage"] and "platform" in errors[2]["errorMessage"]
    # the original bytes are kept, so nothing is lost
    assert [base64.b64decode(e["rawData"]) for e in errors] == bad
    assert fh.pending_records() == 0


def test_key_layout_by_arrival_hour_utc(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    before = time.gmtime()
    fh.put_record(login())
    fh.flush(force=True)
    (key,) = s3.objects
    m = KEY.match(key)
    assert m, key
    assert m.group(1, 2, 3, 4) == m.group(5, 6, 7, 8)  # prefix hour == name hour
    assert int(m.group(1)) == before.tm_year and int(m.group(4)) in (
        before.tm_hour,
        (before.tm_hour + 1) % 24,
    )


def test_late_events_land_by_arrival_but_keep_their_event_time(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    late = new_event("player_login", player_id=1, platform="pc")
    late["event_time"] = "2020-01-01T00:00:00.000+00:00"
    fh.put_record(json.dumps(late).encode())
    fh.flush(force=True)
    (key,) = s3.objects
    assert "/2020/" not in key
    assert json.loads(records_in(s3)[0])["event_time"].startswith("2020-01-01")


def test_buffering_by_size(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3, hints=BufferHints(size_mib=0.01, interval_s=900))  # ~10 KiB
    records = [login(i) for i in range(400)]
    for r in records:
        fh.put_record(r)
    report = fh.flush()  # no force: only full buffers are delivered
    spooled = sum(len(r) + HEADER.size for r in records)  # a frame header per record
    # a buffer closes as soon as it reaches the hint, so each holds hint..hint+1 record
    full = spooled // fh.hints.size_bytes
    assert full >= 3 and len(report.objects) in (full - 1, full)
    assert fh.pending_records() == 400 - report.delivered > 0
    fh.flush(force=True)
    assert records_in(s3) == records  # order kept across objects (sorted names)


def test_buffering_by_interval(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3, hints=BufferHints(size_mib=64, interval_s=0.5))
    fh.put_record(login())
    assert fh.flush().objects == []  # younger than the interval: still buffering
    time.sleep(0.6)
    assert len(fh.flush().objects) == 1  # the flusher closes a buffer that aged out


def test_gzip_and_no_delimiter(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3, compress=True, newline_delimiter=False)
    a, b = login(1), login(2)
    fh.put_record_batch([a, b])
    fh.flush(force=True)
    (key,) = s3.objects
    assert key.endswith(".gz") and KEY.match(key)
    assert gzip.decompress(s3.objects[key]) == a + b  # concatenated as sent


def test_crash_after_upload_before_cleanup_rewrites_the_same_object(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    fh.put_record_batch([login(i) for i in range(10)])
    fh.close()
    (seg,) = (tmp_path / "spool" / "gameplay-events").glob("seg-*.ready")
    saved = seg.read_bytes()
    fh.flush()
    first = dict(s3.objects)
    seg.write_bytes(saved)  # as if the process died before deleting the segment
    fh.flush()
    assert s3.objects == first  # same key, same bytes: not written twice
    assert len(records_in(s3)) == 10


PRODUCER = """
import json, sys
from pathlib import Path
from sandbox.ingest.events.firehose import DeliveryStream
from sandbox.ingest.events.schemas import new_event
fh = DeliveryStream("gameplay-events", Path(sys.argv[1]))
i = 0
while True:
    fh.put_record(json.dumps(new_event("player_login", player_id=i, platform="pc")).encode())
    print(i, flush=True)  # accepted
    i += 1
"""


def test_kill_9_producer_loses_nothing_accepted(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    proc = subprocess.Popen([sys.executable, "-c", PRODUCER, str(spool)], stdout=subprocess.PIPE)
    accepted = []
    while len(accepted) < 300:
        accepted.append(int(proc.stdout.readline()))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    s3 = MemoryS3()
    DeliveryStream("gameplay-events", spool, s3=s3).flush(force=True)
    delivered = [json.loads(r)["player_id"] for r in records_in(s3)]
    # everything acknowledged is there, once, in order; at most what was being
    # written at the kill comes on top (it was accepted but not yet acknowledged)
    assert delivered[: len(accepted)] == accepted
    assert len(delivered) == len(set(delivered))
    shutil.rmtree(spool)


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (b"", "InvalidJSON"),
        (b"[1, 2]", "SchemaViolation"),
        (json.dumps({"Type": "Notification", "Message": "nope"}).encode(), "InvalidJSON"),
        (json.dumps({"event_type": "purchase"}).encode(), "SchemaViolation"),
    ],
)
def test_check_record_reasons(record: bytes, code: str) -> None:
    assert check_record(record)[0] == code


def test_sns_envelope_is_unwrapped_for_validation() -> None:
    inner = json.dumps(new_event("player_login", player_id=3, platform="mobile"))
    envelope = json.dumps({"Type": "Notification", "Message": inner}).encode()
    assert check_record(envelope) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("player_id", "42"),  # a string is not an int, however it reads
        ("platform", 1),
    ],
)
def test_event_models_are_strict(field: str, value: object) -> None:
    event = new_event("player_login", player_id=3, platform="pc") | {field: value}
    code, reason = check_record(json.dumps(event).encode())
    assert code == "SchemaViolation" and field in reason


def test_a_result_that_is_not_a_bool_and_a_match_with_no_results_are_refused() -> None:
    result = {"player_id": 1, "team": 0, "kills": 1, "deaths": 0, "assists": 0, "won": "yes"}
    finished = new_event(
        "match_finished", match_id=1, winning_team=0, duration_s=60, results=[result]
    )
    code, reason = check_record(json.dumps(finished).encode())
    assert code == "SchemaViolation" and "results.0.won" in reason
    finished["results"] = []  # silver would have nothing to explode
    code, reason = check_record(json.dumps(finished).encode())
    assert code == "SchemaViolation" and "results" in reason


def _aws_too_long(where: str, size: int) -> str:
    # AWS's own wording, captured in osquery/osquery#3568 and postmates/cernan#210
    return (
        f"Value 'java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]' at '{where}' failed "
        "to satisfy constraint: Member must have length less than or equal to 1024000"
    )


def test_a_record_over_1000_kib_is_refused_as_aws_refuses_it(tmp_path: Path) -> None:
    s3 = MemoryS3()
    fh = stream(tmp_path, s3)
    big = b"x" * (MAX_RECORD_BYTES + 1)
    with pytest.raises(FirehoseValidationError) as caught:
        fh.put_record(big)
    assert str(caught.value) == (
        "ValidationException: 1 validation error detected: "
        + _aws_too_long("record.data", MAX_RECORD_BYTES + 1)
    )
    # a batch is refused whole, naming the record (1-based, as AWS does)
    with pytest.raises(FirehoseValidationError) as caught:
        fh.put_record_batch([login(1), big, login(2)])
    assert _aws_too_long("records.2.member.data", MAX_RECORD_BYTES + 1) in str(caught.value)
    with pytest.raises(FirehoseValidationError, match="less than or equal to 500"):
        fh.put_record_batch([login(i) for i in range(501)])
    fh.flush(force=True)
    assert not records_in(s3) and not records_in(s3, "events-errors/"), "nothing accepted"
    # exactly the limit is accepted, and delivered (to the error prefix: not an event)
    fh.put_record(b"y" * MAX_RECORD_BYTES)
    fh.flush(force=True)
    assert len(records_in(s3, "events-errors/")) == 1


def test_sns_refuses_a_message_over_256_kib_before_delivering_any(tmp_path: Path) -> None:
    from sandbox.ingest.events.sns import MAX_MESSAGE_BYTES, SnsError, Topic

    s3 = MemoryS3()
    topic = Topic("gameplay-events")
    topic.subscribe(stream(tmp_path, s3))
    with pytest.raises(SnsError) as caught:
        topic.publish_batch([login(1).decode(), "x" * (MAX_MESSAGE_BYTES + 1)])
    assert caught.value.code == "InvalidParameter"
    assert "Message too long" in str(caught.value)
    topic.subscriptions[0].stream.flush(force=True)
    assert not records_in(s3)
