"""Events as production delivers them: published to SNS, delivered by Firehose to the raw
bucket as JSON lines; malformed records go to Firehose's error prefix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.ingest.events.firehose import DeliveryReport
    from sandbox.ingest.events.samples import sample_events, write_sample_events
    from sandbox.ingest.events.schemas import STREAMS, new_event
    from sandbox.ingest.events.sns import delivery_streams, publisher
    from sandbox.ingest.events.traffic import IdPool, run_events, synthetic_events

_EXPORTS = {
    "STREAMS": "schemas",
    "new_event": "schemas",
    "publisher": "sns",
    "delivery_streams": "sns",
    "DeliveryReport": "firehose",
    "run_events": "traffic",
    "synthetic_events": "traffic",
    "IdPool": "traffic",
    "sample_events": "samples",
    "write_sample_events": "samples",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "STREAMS",
    "DeliveryReport",
    "IdPool",
    "delivery_streams",
    "new_event",
    "publisher",
    "run_events",
    "sample_events",
    "synthetic_events",
    "write_sample_events",
]
