"""Figures: each measured several times, reported as median and spread."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass
class Figure:
    """One measured figure: its samples (one per repeat), unit, and the target it is held to."""

    name: str
    unit: str
    samples: list[float]
    target: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        return max(self.samples) - min(self.samples)

    def to_json(self) -> dict:
        return asdict(self) | {"median": round(self.median, 3), "spread": round(self.spread, 3)}


def machine() -> dict:
    """The machine a benchmark ran on: CPU, cores, RAM, Python and OS."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def write_results(figures: list[Figure], path: Path) -> None:
    """Write ``figures`` with the time and the machine to ``path`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "figures": [f.to_json() for f in figures],
    }
    path.write_text(json.dumps(payload, indent=2))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]
