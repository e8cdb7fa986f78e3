"""The silver group: silver on Sail beside the same tables and rules in DuckDB and Polars."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from sandbox.bench.figures import Figure
from sandbox.bench.homes import local_run
from sandbox.platform import Progress


def bench_silver(
    *, repeat: int = 3, scales: tuple[float, ...] = (1, 16), progress: Progress = print
) -> list[Figure]:
    """Silver (six tables, their rules, passed and quarantine written as Parquet) per engine.

    Sail's time is ``local_run``'s silver step; the references read the same bronze
    Parquet and write the same splits. Every reference's rows are checked equal to
    Sail's, table by table, or the benchmark fails.
    """
    from sandbox.app import loader
    from sandbox.bench.silver_polars import polars_silver
    from sandbox.bench.silver_reference import duckdb_silver, same_rows
    from sandbox.jobs.silver import SILVER_TABLES

    figures = []
    for scale in scales:
        work = Path(tempfile.mkdtemp(prefix="sandbox-bench-silver-"))
        times: dict[str, list[float]] = {"sail": [], "duckdb": [], "polars": []}
        try:
            loader.export(work / "input", scale=scale, seed=42)
            for i in range(repeat):
                sail = work / "sail"
                shutil.rmtree(sail, ignore_errors=True)
                times["sail"].append(local_run("sail", work / "input", sail)["timings"]["silver"])
                for name, fn in (("duckdb", duckdb_silver), ("polars", polars_silver)):
                    out = work / name
                    shutil.rmtree(out, ignore_errors=True)
                    t0 = time.perf_counter()
                    fn(sail / "bronze", out)
                    times[name].append(time.perf_counter() - t0)
                    if i == 0:
                        pairs = [
                            (t.name, kind)
                            for t in SILVER_TABLES
                            for kind in ("silver", "quarantine")
                        ]
                        wrong = [
                            f"{n} ({k})"
                            for n, k in pairs
                            if not same_rows(sail / k / n, out / k / n)
                        ]
                        if wrong:
                            raise RuntimeError(f"bench: {name} silver disagrees with Sail: {wrong}")
                progress(
                    f"scale {scale:g} run {i + 1}/{repeat}: silver sail {times['sail'][-1]:.2f}s, "
                    f"duckdb {times['duckdb'][-1]:.2f}s, polars {times['polars'][-1]:.2f}s"
                    + (" (rows equal)" if i == 0 else "")
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        best = [min(d, p) for d, p in zip(times["duckdb"], times["polars"], strict=True)]
        ratio = [s / b for s, b in zip(times["sail"], best, strict=True)]
        target = "<= 3x" if scale <= 1 else "<= 1.5x"
        figures += [
            Figure(f"silver on Sail (scale {scale:g})", "s", times["sail"]),
            Figure(f"silver on DuckDB (scale {scale:g})", "s", times["duckdb"]),
            Figure(f"silver on Polars (scale {scale:g})", "s", times["polars"]),
            Figure(f"Sail / faster reference, silver (scale {scale:g})", "x", ratio, target),
        ]
    return figures
