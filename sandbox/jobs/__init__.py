"""The Spark jobs of the lakehouse: bronze (a replica of the source and the events),
silver (curated domains, ``sandbox.jobs.silver``) and gold (marts), with the layer
conventions, quality rules and the two-step publish they share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.jobs.bronze import run_bronze
    from sandbox.jobs.bronze_events import dedupe_events, unwrap_events
    from sandbox.jobs.fingerprint import KnownStates, TableState, table_states
    from sandbox.jobs.gold import GOLD_TABLES, GoldTable, build_gold, run_gold
    from sandbox.jobs.layers import (
        SOURCE_KEYS,
        BronzeResult,
        bronze_events_path,
        bronze_path,
        gold_path,
        quarantine_path,
        read_delta,
        silver_path,
    )
    from sandbox.jobs.local_run import jsonable
    from sandbox.jobs.quality import QUARANTINE_COLUMNS, Rule
    from sandbox.jobs.silver import SILVER_TABLES, build_silver, run_silver

_EXPORTS = {
    "run_bronze": "bronze",
    "dedupe_events": "bronze_events",
    "unwrap_events": "bronze_events",
    "BronzeResult": "layers",
    "run_silver": "silver",
    "build_silver": "silver",
    "SILVER_TABLES": "silver",
    "run_gold": "gold",
    "build_gold": "gold",
    "GOLD_TABLES": "gold",
    "GoldTable": "gold",
    "SOURCE_KEYS": "layers",
    "bronze_path": "layers",
    "bronze_events_path": "layers",
    "silver_path": "layers",
    "quarantine_path": "layers",
    "gold_path": "layers",
    "read_delta": "layers",
    "KnownStates": "fingerprint",
    "TableState": "fingerprint",
    "table_states": "fingerprint",
    "Rule": "quality",
    "QUARANTINE_COLUMNS": "quality",
    "jsonable": "local_run",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "GOLD_TABLES",
    "QUARANTINE_COLUMNS",
    "SILVER_TABLES",
    "SOURCE_KEYS",
    "BronzeResult",
    "GoldTable",
    "KnownStates",
    "Rule",
    "TableState",
    "bronze_events_path",
    "bronze_path",
    "build_gold",
    "build_silver",
    "dedupe_events",
    "gold_path",
    "jsonable",
    "quarantine_path",
    "read_delta",
    "run_bronze",
    "run_gold",
    "run_silver",
    "silver_path",
    "table_states",
    "unwrap_events",
]
