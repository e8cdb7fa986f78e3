"""The engines group: Sail against local JVM Spark, and gold against DuckDB and Polars."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from sandbox.bench.figures import Figure
from sandbox.bench.homes import local_run
from sandbox.platform import Progress


def bench_engines(
    *, repeat: int = 3, scale: float = 1.0, progress: Progress = print
) -> list[Figure]:
    """The medallion jobs at ``scale`` over local Parquet: Sail against local JVM Spark."""
    from sandbox.app import loader

    if shutil.which("java") is None:
        progress("engines: skipped, no `java` on PATH for local JVM Spark")
        return []
    work = Path(tempfile.mkdtemp(prefix="sandbox-bench-engines-"))
    loader.export(work / "input", scale=scale, seed=42)
    times: dict[str, list[float]] = {"sail": [], "jvm": []}
    walls: dict[str, list[float]] = {"sail": [], "jvm": []}
    try:
        for i in range(repeat):
            for engine in ("sail", "jvm"):
                t0 = time.perf_counter()
                result = local_run(engine, work / "input", work / engine)
                walls[engine].append(time.perf_counter() - t0)
                times[engine].append(result["timings"]["total"])
            progress(
                f"run {i + 1}/{repeat}: jobs sail {times['sail'][-1]:.2f}s, "
                f"jvm {times['jvm'][-1]:.2f}s"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = [j / s for s, j in zip(times["sail"], times["jvm"], strict=True)]
    return [
        Figure(f"bronze->gold jobs on Sail (scale {scale:g})", "s", times["sail"]),
        Figure(f"bronze->gold jobs on JVM Spark (scale {scale:g})", "s", times["jvm"]),
        Figure("JVM time / Sail time (jobs only)", "x", ratio, ">= 10x"),
        Figure("Sail wall incl. engine start", "s", walls["sail"]),
        Figure("JVM wall incl. engine start", "s", walls["jvm"]),
    ]


def bench_reference(
    *, repeat: int = 3, scale: float = 1.0, progress: Progress = print
) -> list[Figure]:
    """Gold on Sail against DuckDB and Polars over the same silver Parquet; results equal."""
    import duckdb  # noqa: F401 - imported here so no run times the import
    import polars  # noqa: F401

    from sandbox.app import loader
    from sandbox.bench.reference import duckdb_gold, normalize_spark, polars_gold

    work = Path(tempfile.mkdtemp(prefix="sandbox-bench-ref-"))
    loader.export(work / "input", scale=scale, seed=42)
    times: dict[str, list[float]] = {"sail": [], "duckdb": [], "polars": []}
    try:
        for i in range(repeat):
            result = local_run("sail", work / "input", work / "out")
            times["sail"].append(result["timings"]["gold"])
            expected = normalize_spark(result["gold"])
            for name, fn in (("duckdb", duckdb_gold), ("polars", polars_gold)):
                t0 = time.perf_counter()
                got = fn(work / "out" / "silver", work / name)  # compute + write, as Sail
                times[name].append(time.perf_counter() - t0)
                wrong = [m for m in expected if got[m] != expected[m]]
                if wrong:
                    raise RuntimeError(f"bench: {name} disagrees with Sail on {wrong}")
            progress(
                f"run {i + 1}/{repeat}: gold sail {times['sail'][-1]:.2f}s, duckdb "
                f"{times['duckdb'][-1]:.2f}s, polars {times['polars'][-1]:.2f}s "
                "(results equal)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = [min(d, p) for d, p in zip(times["duckdb"], times["polars"], strict=True)]
    ratio = [s / b for s, b in zip(times["sail"], best, strict=True)]
    return [
        Figure(f"gold marts on Sail (scale {scale:g}, write + read back)", "s", times["sail"]),
        Figure(f"gold marts on DuckDB (scale {scale:g}, write)", "s", times["duckdb"]),
        Figure(f"gold marts on Polars (scale {scale:g}, write)", "s", times["polars"]),
        Figure("Sail / faster of DuckDB and Polars", "x", ratio, "<= 2x"),
    ]
