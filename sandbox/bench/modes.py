"""The modes group: ``sandbox demo`` on Sail's local runner and on its cluster runner.

Each demo starts from a fresh home with its services stopped, as in the demo group,
with ``SANDBOX_SPARK_MODE`` set; wall time and peak memory of every process (the
stack's included) at each scale.
"""

from __future__ import annotations

import subprocess
import sys

from sandbox.bench.figures import Figure
from sandbox.bench.homes import cli_env, private_home, sample_peak_rss
from sandbox.platform import Progress

MODES = ("local", "local-cluster")
SCALES = (1.0, 4.0)


def bench_spark_modes(
    *, repeat: int = 3, scales: tuple[float, ...] = SCALES, progress: Progress = print
) -> list[Figure]:
    """Demo wall and peak memory per Spark mode and scale (Sail's default workers)."""
    figures = []
    for scale in scales:
        for mode in MODES:
            walls, peaks = [], []
            for i in range(repeat):
                with private_home() as s:
                    env = cli_env(s) | {"SANDBOX_SPARK_MODE": mode}
                    argv = [sys.executable, "-m", "sandbox", "demo", "--scale", str(scale)]
                    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
                    wall, peak = sample_peak_rss(proc)
                walls.append(wall)
                peaks.append(peak)
                progress(
                    f"{mode}, scale {scale:g}, run {i + 1}/{repeat}: "
                    f"{wall:.1f}s, peak {peak:.0f} MB"
                )
            figures += [
                Figure(f"demo wall, spark mode {mode} (scale {scale:g})", "s", walls),
                Figure(f"demo peak memory, spark mode {mode} (scale {scale:g})", "MB", peaks),
            ]
    return figures
