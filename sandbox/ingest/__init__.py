"""Ingestion into the raw bucket, as production lands it: ``dms`` (full load and CDC from
the application database, Parquet) and ``events`` (SNS -> Firehose, JSON).
"""

from __future__ import annotations

__all__ = []
