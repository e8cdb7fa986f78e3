"""How a silver table is declared: its domain, name, build and quality rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame

from sandbox.jobs import quality as q


@dataclass(frozen=True)
class SilverTable:
    """One silver table: ``build`` makes it from the frames it reads by name (bronze
    tables and silver tables built before it); ``rules`` check each row, and the rows
    a rule fails go to the table's quarantine."""

    domain: str
    name: str
    build: Callable[[dict[str, DataFrame]], DataFrame]
    rules: tuple[q.Rule, ...] = ()

    @property
    def label(self) -> str:
        return f"silver {self.domain}.{self.name}"
