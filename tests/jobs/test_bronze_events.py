"""Bronze events: every Firehose setting gives every published event exactly once."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter

import psycopg
import pytest

from sandbox.ingest.events.schemas import STREAMS
from sandbox.ingest.events.sns import delivery_streams, publisher
from sandbox.ingest.events.traffic import run_events
from sandbox.jobs import bronze_events
from sandbox.jobs.bronze_events import (
    RawEventsError,
    bronze_event_stream,
    object_records,
    split_records,
)
from sandbox.jobs.layers import Manifest, bronze_events_path
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.session import spark_session
from sandbox.platform.settings import Settings

A = '{"event_id": "a", "n": 1}'
B = '{"event_id": "b", "s": "}{ \\"quoted\\" {"}'  # braces and escaped quotes in a string
C = '{"event_id": "c", "nested": {"x": [1, {"y": 2}]}}'
ENVELOPE = json.dumps({"Type": "Notification", "MessageId": "m1", "Message": A})


@pytest.mark.parametrize(
    ("body", "records"),
    [
        ("", []),  # an empty object holds no records
        (A, [A]),
        (A + "\n" + B + "\n", [A, B]),  # newline delimiter on: one record per line
        (A + B + C, [A, B, C]),  # Firehose's default: concatenated as sent
        (B + B, [B, B]),  # "}{" inside a string is not a record boundary
        (A + " \r\n\t" + C, [A, C]),  # any JSON whitespace between records
        ("\n\n" + A + "\n\n", [A]),  # leading and trailing blank lines
        (ENVELOPE + ENVELOPE, [ENVELOPE, ENVELOPE]),  # SNS envelopes: braces in Message
        ('{"event_id": "é ✓"}{}', ['{"event_id": "é ✓"}', "{}"]),  # non-ASCII kept as is
    ],
)
def test_split_records(body: str, records: list[str]) -> None:
    assert split_records(body) == records


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (A + "{not json", "offset 25: not a JSON record"),  # a torn or garbled record
        (A[:-1], "offset 0: not a JSON record"),  # cut short
        ("[1, 2]", "must be a JSON object"),  # valid JSON, but not an event record
        ("12 34", "must be a JSON object"),  # concatenated scalars are ambiguous
        (A + "}", "offset 25: not a JSON record"),  # a stray closing brace
    ],
)
def test_split_records_rejects(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_records(body)


def test_object_records_gunzips_by_magic_bytes_not_by_name() -> None:
    body = (A + B).encode()
    assert object_records("x/plain", body) == [A, B]
    assert object_records("x/no-suffix", gzip.compress(body)) == [A, B]
    two_members = gzip.compress(b"\n" + body) + gzip.compress(body)
    assert object_records("x/two-members.gz", two_members) == [A, B, A, B]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x1f\x8b" + b"\x00" * 20, "bad gzip"),
        (b'{"event_id": "\xff"}', "not UTF-8 at byte 14"),
        (A.encode() + b"{oops", "not a JSON record"),
        (b'{"n": 1}', "record 0 has no event_id"),  # bronze would drop it: fail instead
        (json.dumps({"Type": "Notification", "Message": "{}"}).encode(), "record 0 has no"),
    ],
)
def test_object_records_names_the_object(body: bytes, message: str) -> None:
    with pytest.raises(RawEventsError, match=rf"raw events object events/s/o-1: .*{message}"):
        object_records("events/s/o-1", body)


# -- on the real embedded stack ------------------------------------------------------

N = 60  # events per case: a few objects per stream with the tiny size hint below


def configure(source: Settings, *, newline: bool, compress: bool, raw: bool) -> Settings:
    firehose = source.firehose.model_copy(
        update={
            "newline_delimiter": newline,
            "compress": compress,
            "raw_message_delivery": raw,
            "buffer_size_mib": 0.01,  # ~10 KiB: several objects per stream
        }
    )
    settings = source.model_copy(update={"firehose": firehose})
    for stream in delivery_streams(settings).values():
        for seg in stream.dir.glob("seg-*"):
            seg.unlink()  # left by another test sharing the stack's spool
    return settings


def publish(settings: Settings, *, seed: int, retry: list[dict] = ()) -> list[dict]:
    """N events through SNS and Firehose into S3 raw, ``retry`` again, and one bad event."""
    sent: list[dict] = []
    pub = publisher(settings)

    def publish_many(events: list[dict]) -> None:
        sent.extend(events)
        pub.publish_many(events)

    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        run_events(conn, publish_many, count=N, seed=seed, batch=7)
    pub.publish_many(list(retry))  # a producer retry: the same events again
    pub.publish({"event_type": "teleport", "player_id": 1})  # to the error prefix
    pub.close()
    for stream in delivery_streams(settings).values():
        stream.flush(force=True)
    return sent


def raw_bodies(settings: Settings) -> dict[str, bytes]:
    s3 = s3_client(settings)
    out = {}
    for obj in s3.list_objects(
        settings.raw_bucket, prefix=settings.firehose.prefix + "/", recursive=True
    ):
        out[obj.object_name] = s3.get_object(settings.raw_bucket, obj.object_name).read()
    return out


def bronze_event_ids(settings: Settings) -> Counter:
    spark = spark_session(settings)
    for stream in STREAMS:
        bronze_event_stream(spark, settings, stream)
    ids: Counter = Counter()
    for stream in STREAMS:
        rows = spark.read.format("delta").load(bronze_events_path(settings, stream)).collect()
        ids.update(r.event_id for r in rows)
    return ids


@pytest.mark.slow
@pytest.mark.parametrize("raw", [False, True], ids=["envelope", "raw"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("newline", [False, True], ids=["concatenated", "newline"])
def test_every_published_event_is_in_bronze_once(
    source: Settings, newline: bool, compress: bool, raw: bool
) -> None:
    # The whole matrix: each case takes a few seconds on the module's stack.
    settings = configure(source, newline=newline, compress=compress, raw=raw)
    seed = int(newline) + 2 * int(compress) + 4 * int(raw)
    first = publish(settings, seed=seed)
    assert bronze_event_ids(settings) == Counter(e["event_id"] for e in first)  # a new table
    second = publish(settings, seed=seed + 10, retry=first[:5])
    bodies = raw_bodies(settings)
    assert len(bodies) > len(STREAMS)  # several objects per stream
    for key, body in bodies.items():
        assert key.endswith(".gz") == compress
        text = gzip.decompress(body) if compress else body
        assert (b"}\n{" in text or text.count(b"\n") == 1) if newline else b"\n" not in text
        assert (b'"Type": "Notification"' in text) != raw
    # MERGE into the table: the new events once each, the retried ones not again
    assert bronze_event_ids(settings) == Counter(e["event_id"] for e in first + second)
    # the bad events went to the error prefix, not into bronze
    errors = s3_client(settings).list_objects(
        settings.raw_bucket, prefix=settings.firehose.error_prefix + "/", recursive=True
    )
    assert len(list(errors)) == 2


@pytest.mark.slow
def test_an_object_bronze_cannot_split_fails_the_job_naming_it(source: Settings) -> None:
    settings = configure(source, newline=False, compress=False, raw=False)
    publish(settings, seed=11)
    key = f"{settings.firehose.prefix}/gameplay-events/2026/01/01/00/torn-object"
    body = b'{"event_id": "x", "event_type": "player_login"'  # cut short
    s3_client(settings).put_object(settings.raw_bucket, key, io.BytesIO(body), len(body))
    spark = spark_session(settings)
    with pytest.raises(RawEventsError, match=f"raw events object {key}: offset 0"):
        bronze_event_stream(spark, settings, "gameplay-events")


@pytest.mark.slow
def test_objects_applied_in_several_batches_give_each_event_once(
    source: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bronze_events, "BATCH_BYTES", 1)  # one object per batch
    settings = configure(source, newline=False, compress=True, raw=False)
    sent = publish(settings, seed=21, retry=[])
    more = publish(settings, seed=22, retry=sent[:3])  # the retries land in a later batch
    assert bronze_event_ids(settings) == Counter(e["event_id"] for e in sent + more)
    manifest = Manifest(s3_client(settings), settings.lake_bucket, "bronze/events/gameplay-events")
    gameplay = [k for k in raw_bodies(settings) if "/gameplay-events/" in k]
    assert sorted(manifest.files) == sorted(gameplay)  # every object recorded once applied
