"""Throw-away homes on free ports, and how the benchmarks time and weigh processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from sandbox.platform import EmbeddedStack, Settings, free_home_ports
from sandbox.platform.services.process import tree


def bench_settings(home: Path) -> Settings:
    # Port fields by name: mypy cannot match the keys to Settings' fields, pydantic does.
    ports: dict[str, Any] = free_home_ports()
    return Settings(_env_file=None, home=home, **ports)


@contextmanager
def private_home() -> Iterator[Settings]:
    """Settings for a throw-away home on free ports; its stack is stopped and wiped after."""
    home = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    settings = bench_settings(home)
    try:
        yield settings
    finally:
        EmbeddedStack(settings).down()  # a no-op unless a step failed before `down`
        shutil.rmtree(home, ignore_errors=True)


def cli_env(s: Settings) -> dict[str, str]:
    return os.environ | s.as_env()


def timed_cli(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sandbox", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


def stack_memory_mb(stack: EmbeddedStack) -> float:
    """Resident memory of every process of the stack, children included (MB)."""
    total = 0
    for svc in stack.services:
        proc = stack.supervisor.process(svc.name)
        if proc is None:
            continue
        total += tree_memory(proc)
    return total / 1e6


def tree_memory(proc: psutil.Process, kind: str = "rss") -> int:
    """Bytes of ``proc`` and its descendants: resident (rss) or proportional (pss, where
    pages shared between them count once)."""
    total = 0
    for p in tree(proc):
        try:
            info = p.memory_full_info() if kind == "pss" else p.memory_info()
            total += getattr(info, kind)
        except psutil.Error:
            continue
    return total


def sample_peak_rss(proc: subprocess.Popen, interval: float = 0.2) -> tuple[float, float]:
    """Wait for ``proc``; returns (seconds, peak RSS in MB of it and all its descendants)."""
    t0 = time.perf_counter()
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_memory(root))
        time.sleep(interval)
    if proc.returncode != 0:
        raise RuntimeError(f"bench: {proc.args!r} exited with {proc.returncode}")
    return time.perf_counter() - t0, peak / 1e6


def local_run(engine: str, input_dir: Path, output_dir: Path) -> dict:
    """``python -m sandbox.jobs.local_run`` in a fresh process; its JSON result."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.jobs.local_run",
            "--engine",
            engine,
            "--input",
            str(input_dir),
            "--output",
            str(output_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)
