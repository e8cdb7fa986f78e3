"""The install group: a first ``uv sync`` as a new user's is, with nothing cached.

A fresh copy of the project's ``pyproject.toml`` and ``uv.lock`` (and the package) in a
temporary folder, ``uv sync`` with an empty uv cache of its own: wall time, the bytes
received over the network meanwhile (``/proc/net/dev``, Linux; nothing else should be
downloading) and the environment's size on disk. Needs the package registry, as a first
install does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox.bench.figures import Figure
from sandbox.platform import PROJECT_ROOT, Progress


def _size_mb(folder: Path) -> float:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total / 1e6


def _received_bytes() -> int:
    """Bytes received by every network interface but loopback, from ``/proc/net/dev``."""
    total = 0
    counters_file = Path("/proc/net/dev")
    if not counters_file.exists():  # not Linux: no figure for the download
        return 0
    for line in counters_file.read_text().splitlines()[2:]:
        name, _, counters = line.partition(":")
        if name.strip() != "lo":
            total += int(counters.split()[0])
    return total


def bench_install(*, repeat: int = 3, progress: Progress = print) -> list[Figure]:
    """Wall time, download and disk size of a first ``uv sync`` (default groups)."""
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("bench install: `uv` is not on PATH")
    walls, downloads, disks = [], [], []
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="sandbox-install-") as tmp:
            root = Path(tmp) / "project"
            root.mkdir()
            for name in ("pyproject.toml", "uv.lock", "README.md"):
                shutil.copy(PROJECT_ROOT / name, root / name)
            shutil.copytree(
                PROJECT_ROOT / "sandbox",
                root / "sandbox",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            cache = Path(tmp) / "uv-cache"
            env = os.environ | {"UV_CACHE_DIR": str(cache)}
            env.pop("VIRTUAL_ENV", None)
            received = _received_bytes()
            t0 = time.perf_counter()
            subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=root, env=env, check=True)
            walls.append(time.perf_counter() - t0)
            downloads.append((_received_bytes() - received) / 1e6)
            disks.append(_size_mb(root / ".venv"))
            progress(
                f"run {i + 1}/{repeat}: {walls[-1]:.0f}s, downloaded {downloads[-1]:.0f} MB, "
                f"environment {disks[-1]:.0f} MB"
            )
    return [
        Figure("first install: uv sync, empty cache (default groups)", "s", walls),
        Figure("first install: downloaded (bytes received)", "MB", downloads),
        Figure("first install: environment on disk", "MB", disks),
    ]
