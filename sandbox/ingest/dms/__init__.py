"""AWS DMS, emulated on real logical replication: a full load, then CDC, written to the raw
bucket in DMS's own Parquet layout; a crash at any point re-delivers, never drops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.ingest.dms.control import SlotStatus, probe_slot, slot_status
    from sandbox.ingest.dms.errors import DmsBusyError, DmsSlotLostError, DmsSourceError
    from sandbox.ingest.dms.mappings import TableMapping, read_mapping
    from sandbox.ingest.dms.naming import table_prefixes
    from sandbox.ingest.dms.replay import raw_table_files
    from sandbox.ingest.dms.target import IngestReport
    from sandbox.ingest.dms.task import DmsTask

_EXPORTS = {
    "DmsTask": "task",
    "IngestReport": "target",
    "SlotStatus": "control",
    "slot_status": "control",
    "probe_slot": "control",
    "TableMapping": "mappings",
    "read_mapping": "mappings",
    "table_prefixes": "naming",
    "raw_table_files": "replay",
    "DmsBusyError": "errors",
    "DmsSlotLostError": "errors",
    "DmsSourceError": "errors",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DmsBusyError",
    "DmsSlotLostError",
    "DmsSourceError",
    "DmsTask",
    "IngestReport",
    "SlotStatus",
    "TableMapping",
    "probe_slot",
    "raw_table_files",
    "read_mapping",
    "slot_status",
    "table_prefixes",
]
