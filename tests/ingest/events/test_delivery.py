"""SNS -> Firehose -> S3 raw for real: the simulator's events, envelopes, raw delivery."""

from __future__ import annotations

import json

import psycopg
import pytest

from sandbox.app.simulator import Simulator
from sandbox.ingest.events.sns import delivery_streams, publisher
from sandbox.ingest.events.traffic import run_events
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.settings import Settings

pytestmark = pytest.mark.slow


def _isolate(settings: Settings) -> Settings:
    for stream in delivery_streams(settings).values():
        for seg in stream.dir.glob("seg-*"):
            seg.unlink()  # records left by another test of this module
    return settings


def _delivered(settings: Settings, prefix: str) -> list[dict]:
    s3 = s3_client(settings)
    out = []
    for obj in s3.list_objects(settings.raw_bucket, prefix=prefix + "/", recursive=True):
        body = s3.get_object(settings.raw_bucket, obj.object_name).read()
        out += [json.loads(line) for line in body.splitlines() if line]
    return out


def test_simulator_events_reach_raw_in_sns_envelopes_with_ids_that_exist(
    source: Settings,
) -> None:
    settings = _isolate(source)
    pub = publisher(settings)
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        report = Simulator(conn, seed=4, on_event=pub.publish).run(changes=400)
        pub.close()
        for stream in delivery_streams(settings).values():
            stream.flush(force=True)
        records = _delivered(settings, settings.firehose.prefix)
        assert len(records) == report.events > 0
        assert {r["Type"] for r in records} == {"Notification"}
        assert {r["TopicArn"].rsplit(":", 1)[1] for r in records} == {
            "gameplay-events",
            "commerce-events",
        }
        events = [json.loads(r["Message"]) for r in records]
        assert {e["event_type"] for e in events} >= {"player_login", "match_finished"}
        # the ids in events exist in the database (events join with CDC in silver)
        match_ids = {e["match_id"] for e in events if e["event_type"] == "match_finished"}
        (found,) = conn.execute(
            "select count(*) from matches where match_id = any(%s)", (list(match_ids),)
        ).fetchone()
        assert found == len(match_ids)
    assert _delivered(settings, settings.firehose.error_prefix) == []


def test_raw_message_delivery_and_events_only_load(source: Settings) -> None:
    settings = _isolate(source)
    settings.firehose.raw_message_delivery = True
    pub = publisher(settings)
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        sent = run_events(conn, pub.publish_many, count=2000, seed=9)
    pub.publish({"event_type": "teleport", "player_id": 1})  # unknown: must not vanish
    pub.close()
    for stream in delivery_streams(settings).values():
        stream.flush(force=True)
    good = _delivered(settings, settings.firehose.prefix)
    bad = _delivered(settings, settings.firehose.error_prefix)
    assert len(good) == sent and "Type" not in good[0]  # raw: no envelope
    assert [b["errorCode"] for b in bad] == ["UnknownEventType"]
