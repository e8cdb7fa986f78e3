"""Serving gold: the warehouse load (the Redshift stand-in), the HTML report, Metabase."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.serve.metabase import MetabaseAdmin
    from sandbox.serve.report import layer_counts, write_report
    from sandbox.serve.warehouse import run_warehouse

_EXPORTS = {
    "run_warehouse": "warehouse",
    "write_report": "report",
    "layer_counts": "report",
    "MetabaseAdmin": "metabase",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["MetabaseAdmin", "layer_counts", "run_warehouse", "write_report"]
