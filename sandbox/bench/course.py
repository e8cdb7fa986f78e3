"""The course group: `sandbox course check 1` on the solution, alone and two at once.

A class runs the check on twenty laptops, often two pairs' checks on one machine. The
figure the course README quotes is the median wall time of ``sandbox course check 1``
(the CLI, a fresh process: Sail's start, the three lakes, the students' tests and their
mutants, the task on the sample) with two checks running at the same time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox.bench.figures import Figure
from sandbox.course.checks import COURSE_DIR
from sandbox.platform import Progress


def _check(work: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "course", "check", "1", "--path", str(work)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench: the check failed on the solution:\n{proc.stdout[-2000:]}")
    return time.perf_counter() - t0


def bench_course(*, repeat: int = 3, progress: Progress = print, **_: object) -> list[Figure]:
    """Wall time of `course check 1` on the reference solution: alone, then two at once."""
    alone, paired = [], []
    with tempfile.TemporaryDirectory(prefix="bench-course-") as tmp:
        works = []
        for name in ("a", "b"):
            work = Path(tmp) / name
            shutil.copytree(COURSE_DIR / "exercise-1" / "solution", work)
            works.append(work)
        for i in range(repeat):
            alone.append(_check(works[0]))
            with ThreadPoolExecutor(2) as pool:
                paired += list(pool.map(_check, works))
            progress(
                f"run {i + 1}/{repeat}: alone {alone[-1]:.1f}s, "
                f"two at once {paired[-2]:.1f}s and {paired[-1]:.1f}s"
            )
    return [
        Figure("course check 1, alone", "s", alone),
        Figure("course check 1, two at once (each)", "s", paired, target="<= 20 s"),
    ]
