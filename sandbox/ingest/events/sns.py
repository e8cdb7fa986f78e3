"""SNS topics with Firehose subscriptions, and the publisher the application uses.

A topic delivers each published message to every subscription. Unless the
subscription has raw message delivery on, the message is wrapped in the SNS
notification envelope (``Type``, ``MessageId``, ``TopicArn``, ``Message``, ...), which
is what lands in S3 in production, so the bronze job must unwrap it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sandbox.ingest.events.firehose import BufferHints, DeliveryStream
from sandbox.ingest.events.schemas import STREAM_OF_TYPE, STREAMS
from sandbox.platform import Settings
from sandbox.platform.errors import SandboxError
from sandbox.platform.services import s3_client

ACCOUNT = "000000000000"  # the account id LocalStack-style emulators use
# A Publish message is at most 256 KiB (262,144 bytes):
# https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
MAX_MESSAGE_BYTES = 262_144


class SnsError(SandboxError):
    """A request SNS refuses: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


@dataclass
class Subscription:
    stream: DeliveryStream
    raw_message_delivery: bool = False


@dataclass
class Topic:
    name: str
    region: str = "us-east-1"
    subscriptions: list[Subscription] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{ACCOUNT}:{self.name}"

    def subscribe(self, stream: DeliveryStream, *, raw_message_delivery: bool = False) -> None:
        self.subscriptions.append(Subscription(stream, raw_message_delivery))

    def envelope(self, message: str) -> bytes:
        message_id = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return json.dumps(
            {
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": self.arn,
                "Message": message,
                "Timestamp": now,
                "SignatureVersion": "1",
                "Signature": "sandbox-unsigned",
                "SigningCertURL": "https://sns.sandbox.invalid/cert.pem",
                "UnsubscribeURL": f"https://sns.sandbox.invalid/?Action=Unsubscribe&Id={message_id}",
            }
        ).encode()

    def publish_batch(self, messages: list[str]) -> None:
        """Publish each message (a PublishBatch of any length: the simulator's convenience).
        A message over 256 KiB is refused before any is delivered, as SNS refuses it."""
        for i, message in enumerate(messages):
            if len(message.encode()) > MAX_MESSAGE_BYTES:
                raise SnsError(
                    "InvalidParameter",
                    f"Invalid parameter: Message too long (message {i} of the batch, "
                    f"{len(message.encode())} bytes; SNS accepts {MAX_MESSAGE_BYTES})",
                )
        for sub in self.subscriptions:
            if sub.raw_message_delivery:
                sub.stream.deliver_records(m.encode() for m in messages)
            else:
                sub.stream.deliver_records(self.envelope(m) for m in messages)


class EventPublisher:
    """Routes each event to its topic: ``gameplay-events`` or ``commerce-events``."""

    def __init__(self, topics: dict[str, Topic]) -> None:
        self.topics = topics
        self.published = 0

    def publish(self, event: dict) -> None:
        self.publish_many([event])

    def publish_many(self, events: list[dict]) -> None:
        by_topic: dict[str, list[str]] = {}
        for event in events:
            # An unknown type still goes somewhere: the default stream, where
            # delivery sends it to the error prefix with its reason.
            topic = STREAM_OF_TYPE.get(event.get("event_type", ""), STREAMS[-1])
            by_topic.setdefault(topic, []).append(json.dumps(event, default=_default))
        for topic, messages in by_topic.items():
            self.topics[topic].publish_batch(messages)
        self.published += len(events)

    def close(self) -> None:
        for topic in self.topics.values():
            for sub in topic.subscriptions:
                sub.stream.close()


def delivery_streams(settings: Settings) -> dict[str, DeliveryStream]:
    """One Firehose delivery stream per event stream, buffering to the raw bucket with
    the settings' hints, prefixes and compression."""
    f = settings.firehose
    hints = BufferHints(size_mib=f.buffer_size_mib, interval_s=f.buffer_interval_s)
    s3 = s3_client(settings)
    return {
        name: DeliveryStream(
            name,
            settings.runtime_dir / "spool" / "firehose",
            hints=hints,
            s3=s3,
            bucket=settings.raw_bucket,
            prefix=f.prefix,
            error_prefix=f.error_prefix,
            compress=f.compress,
            newline_delimiter=f.newline_delimiter,
        )
        for name in STREAMS
    }


def publisher(settings: Settings) -> EventPublisher:
    """One topic per stream, each subscribed by its Firehose delivery stream."""
    streams = delivery_streams(settings)
    topics = {}
    for name, stream in streams.items():
        topic = Topic(name, region=settings.s3_region)
        topic.subscribe(stream, raw_message_delivery=settings.firehose.raw_message_delivery)
        topics[name] = topic
    return EventPublisher(topics)
