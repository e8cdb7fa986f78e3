"""Lakehouse sandbox: a local copy of an AWS data platform.

Application Postgres -> DMS and SNS/Firehose -> S3 raw -> bronze -> silver -> gold
(Spark jobs, Delta Lake) -> the warehouse -> Metabase, on real servers. The entry
points: settings, the embedded stack, a Spark session on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sandbox.platform.session import spark_session
    from sandbox.platform.settings import load_settings
    from sandbox.platform.stack import EmbeddedStack

_EXPORTS = {
    "load_settings": "platform.settings",
    "EmbeddedStack": "platform.stack",
    "spark_session": "platform.session",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["EmbeddedStack", "__version__", "load_settings", "spark_session"]
