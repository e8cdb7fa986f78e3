"""The application the platform ingests: its Postgres schema, deterministic history at any
scale (``generate``), loading it (``loader``) and live traffic (``Simulator``, one
connection; ``simulate``, several at once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.app.generator import SAMPLE_AS_OF, TABLE_ORDER, generate
    from sandbox.app.loader import SeedError, create_schema, export, seed
    from sandbox.app.pool import simulate
    from sandbox.app.simulator import Simulator

_EXPORTS = {
    "generate": "generator",
    "SAMPLE_AS_OF": "generator",
    "TABLE_ORDER": "generator",
    "seed": "loader",
    "export": "loader",
    "create_schema": "loader",
    "SeedError": "loader",
    "Simulator": "simulator",
    "simulate": "pool",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "SAMPLE_AS_OF",
    "TABLE_ORDER",
    "SeedError",
    "Simulator",
    "create_schema",
    "export",
    "generate",
    "seed",
    "simulate",
]
