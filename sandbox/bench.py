"""Benchmarks the project keeps: each figure measured several times, median and spread.

``sandbox bench`` runs them against a private home on free ports, so it never touches
the user's running stack or data.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from sandbox.services.process import tree
from sandbox.settings import Settings
from sandbox.stack import EmbeddedStack

Progress = Callable[[str], None]


@dataclass
class Figure:
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
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def _free_block(count: int) -> list[int]:
    """``count`` consecutive free ports, also free at +10000 (SeaweedFS gRPC)."""
    base = 41000
    while True:
        ports = list(range(base, base + count))
        if all(_free(p) and _free(p + 10000) for p in ports):
            return ports
        base += count


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def bench_settings(home: Path) -> Settings:
    pg, s3, master, volume, filer, spark = _free_block(6)
    return Settings(
        _env_file=None,
        home=home,
        postgres_port=pg,
        s3_port=s3,
        seaweed_master_port=master,
        seaweed_volume_port=volume,
        seaweed_filer_port=filer,
        spark_port=spark,
    )


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


def _cli_env(s: Settings) -> dict[str, str]:
    return os.environ | s.as_env()


def _timed_cli(args: list[str], env: dict[str, str]) -> float:
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
        for p in tree(proc):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
    return total / 1e6


def bench_stack(
    *, repeat: int = 3, idle_s: float = 5.0, progress: Progress = print
) -> list[Figure]:
    """Cold ``sandbox up`` (fresh home), ``down``, and idle memory of the whole stack."""
    up_s, down_s, idle_mb = [], [], []
    for i in range(repeat):
        with private_home() as s:
            env = _cli_env(s)
            up_s.append(_timed_cli(["up"], env))
            time.sleep(idle_s)
            idle_mb.append(stack_memory_mb(EmbeddedStack(s)))
            down_s.append(_timed_cli(["down"], env))
            progress(
                f"run {i + 1}/{repeat}: up {up_s[-1]:.1f}s, idle {idle_mb[-1]:.0f} MB, "
                f"down {down_s[-1]:.1f}s"
            )
    return [
        Figure("stack cold up", "s", up_s, "< 10 s"),
        Figure("stack down", "s", down_s, "< 15 s"),
        Figure("stack idle memory", "MB", idle_mb, "< 600 MB"),
    ]


def write_results(figures: list[Figure], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "figures": [f.to_json() for f in figures],
    }
    path.write_text(json.dumps(payload, indent=2))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def bench_dms(
    *, repeat: int = 3, changes: int = 30_000, follow_s: float = 20.0, progress: Progress = print
) -> list[Figure]:
    """CDC throughput (changes/s) and commit-to-object latency in follow mode."""
    import threading

    import psycopg

    from sandbox.app import generator
    from sandbox.app.simulator import Simulator
    from sandbox.dms.emulator import DmsTask

    with private_home() as s:
        stack = EmbeddedStack(s)
        throughput: list[float] = []
        p50: list[float] = []
        p95: list[float] = []
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            generator.seed(conn, scale=1, seed=42)
            task = DmsTask(s)
            task.run()
            sim = Simulator(conn, seed=1)
            for i in range(repeat):
                sim.run(changes=changes)
                t0 = time.perf_counter()
                report = task.run()
                throughput.append(report.changes / (time.perf_counter() - t0))
                progress(
                    f"cdc run {i + 1}/{repeat}: {report.changes} changes, "
                    f"{throughput[-1]:,.0f} changes/s"
                )
            for i in range(repeat):
                stop = threading.Event()
                result = {}

                def follow(out: dict = result, done: threading.Event = stop) -> None:
                    out["report"] = DmsTask(s).follow(should_stop=done.is_set)

                worker = threading.Thread(target=follow)
                worker.start()
                time.sleep(1.0)
                sim.run(duration_s=follow_s, rate_tps=50)
                time.sleep(2 * s.dms.cdc_max_batch_interval_s)
                stop.set()
                worker.join()
                lat = result["report"].latencies_s
                p50.append(_percentile(lat, 0.5))
                p95.append(_percentile(lat, 0.95))
                progress(
                    f"follow run {i + 1}/{repeat}: {len(lat)} commits, "
                    f"p50 {p50[-1]:.2f}s, p95 {p95[-1]:.2f}s"
                )
    interval = s.dms.cdc_max_batch_interval_s
    return [
        Figure("dms cdc throughput", "changes/s", throughput, ">= 20,000 changes/s"),
        Figure(f"dms follow latency p50 (flush {interval:g}s)", "s", p50),
        Figure(f"dms follow latency p95 (flush {interval:g}s)", "s", p95, "< 2 s"),
    ]


def bench_firehose(
    *, repeat: int = 3, events: int = 100_000, progress: Progress = print
) -> list[Figure]:
    """Events accepted by the publisher (SNS envelope + spool) and delivered to S3, per s."""
    import random

    import psycopg

    from sandbox.app import generator
    from sandbox.events.sns import delivery_streams, publisher
    from sandbox.events.traffic import IdPool, synthetic_events

    with private_home() as s:
        s.firehose.buffer_size_mib = 64
        stack = EmbeddedStack(s)
        accepted, delivered, end_to_end = [], [], []
        stack.up()
        with psycopg.connect(s.postgres_url(), autocommit=True) as conn:
            generator.seed(conn, scale=1, seed=42)
            pool = IdPool(conn)
        for i in range(repeat):
            batch = [
                e
                for e, _ in zip(
                    synthetic_events(pool, random.Random(i)), range(events), strict=False
                )
            ]
            pub = publisher(s)
            t0 = time.perf_counter()
            for j in range(0, len(batch), 500):
                pub.publish_many(batch[j : j + 500])
            pub.close()
            t_accept = time.perf_counter() - t0
            t1 = time.perf_counter()
            n = sum(st.flush(force=True).delivered for st in delivery_streams(s).values())
            t_deliver = time.perf_counter() - t1
            if n != events:
                raise RuntimeError(f"firehose bench: {events} published, {n} delivered")
            accepted.append(events / t_accept)
            delivered.append(events / t_deliver)
            end_to_end.append(events / (t_accept + t_deliver))
            progress(
                f"run {i + 1}/{repeat}: accepted {accepted[-1]:,.0f}/s, delivered "
                f"{delivered[-1]:,.0f}/s, end to end {end_to_end[-1]:,.0f}/s"
            )
    return [
        Figure("firehose accepted (publish + spool)", "events/s", accepted),
        Figure("firehose delivered (validate + S3)", "events/s", delivered),
        Figure("firehose end to end", "events/s", end_to_end, ">= 20,000 events/s"),
    ]


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


def bench_engines(
    *, repeat: int = 3, scale: float = 1.0, progress: Progress = print
) -> list[Figure]:
    """The medallion jobs at ``scale`` over local Parquet: Sail against local JVM Spark."""
    from sandbox.app import generator

    if shutil.which("java") is None:
        progress("engines: skipped, no `java` on PATH for local JVM Spark")
        return []
    work = Path(tempfile.mkdtemp(prefix="sandbox-bench-engines-"))
    generator.export(work / "input", scale=scale, seed=42)
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


def _sample_peak_rss(proc: subprocess.Popen, interval: float = 0.2) -> tuple[float, float]:
    """Wait for ``proc``; returns (seconds, peak RSS in MB of it and all its descendants)."""
    t0 = time.perf_counter()
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        for p in tree(root):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        peak = max(peak, total)
        time.sleep(interval)
    if proc.returncode != 0:
        raise RuntimeError(f"bench: {proc.args} exited with {proc.returncode}")
    return time.perf_counter() - t0, peak / 1e6


def bench_demo(*, repeat: int = 3, scale: float = 1.0, progress: Progress = print) -> list[Figure]:
    """``sandbox demo`` from services stopped (fresh home) to report written."""
    walls, peaks, second_walls = [], [], []
    for i in range(repeat):
        with private_home() as s:
            env = _cli_env(s)
            argv = [sys.executable, "-m", "sandbox", "demo", "--scale", str(scale)]
            out = subprocess.DEVNULL
            wall, peak = _sample_peak_rss(subprocess.Popen(argv, env=env, stdout=out))
            _timed_cli(["down"], env)
            second, _ = _sample_peak_rss(subprocess.Popen(argv, env=env, stdout=out))
            walls.append(wall)
            peaks.append(peak)
            second_walls.append(second)
            progress(
                f"run {i + 1}/{repeat}: demo {wall:.1f}s (peak {peak:.0f} MB), "
                f"second run {second:.1f}s"
            )
    return [
        Figure(f"demo wall, services stopped to report (scale {scale:g})", "s", walls, "< 60 s"),
        Figure(f"demo peak memory, all processes (scale {scale:g})", "MB", peaks, "< 2,000 MB"),
        Figure("demo second run (incremental, from stopped)", "s", second_walls),
    ]


def bench_reference(
    *, repeat: int = 3, scale: float = 1.0, progress: Progress = print
) -> list[Figure]:
    """Gold on Sail against DuckDB and Polars over the same silver Parquet; results equal."""
    import duckdb  # noqa: F401 - imported here so no run times the import
    import polars  # noqa: F401

    from sandbox.app import generator
    from sandbox.bench_reference import duckdb_gold, normalize_spark, polars_gold

    work = Path(tempfile.mkdtemp(prefix="sandbox-bench-ref-"))
    generator.export(work / "input", scale=scale, seed=42)
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


def lake_sizes_mb(settings: Settings) -> dict[str, float]:
    """Bytes on the S3 server per layer (raw, bronze, silver, gold), in MB."""
    from sandbox.services.s3 import s3_client

    s3 = s3_client(settings)
    sizes = {"raw": 0, "bronze": 0, "silver": 0, "gold": 0}
    for o in s3.list_objects(settings.raw_bucket, recursive=True):
        sizes["raw"] += o.size
    for layer in ("bronze", "silver", "gold"):
        for o in s3.list_objects(settings.lake_bucket, prefix=f"{layer}/", recursive=True):
            sizes[layer] += o.size
    return {k: round(v / 1e6, 2) for k, v in sizes.items()}


def bench_scaling(
    *,
    repeat: int = 1,
    scales: tuple[float, ...] = (1, 4, 16),
    changes: int = 10_000,
    progress: Progress = print,
    chart: Path = Path("bench-results/scaling.png"),
) -> list[Figure]:
    """The demo at several scales: wall, peak memory, per-task times, size per layer; a chart."""
    rows = []
    figures = []
    for scale in scales:
        walls, peaks = [], []
        for i in range(repeat):
            with private_home() as s:
                argv = [
                    sys.executable,
                    "-m",
                    "sandbox",
                    "demo",
                    "--scale",
                    str(scale),
                    "--changes",
                    str(changes),
                ]
                wall, peak = _sample_peak_rss(
                    subprocess.Popen(argv, env=_cli_env(s), stdout=subprocess.DEVNULL)
                )
                walls.append(wall)
                peaks.append(peak)
                tasks = {
                    t["name"]: t["seconds"]
                    for t in json.loads((s.runtime_dir / "runs" / "last.json").read_text())["tasks"]
                }
                sizes = lake_sizes_mb(s)
                progress(
                    f"scale {scale:g} run {i + 1}/{repeat}: {wall:.1f}s, peak {peak:.0f} MB, "
                    f"tasks {tasks}, MB per layer {sizes}"
                )
        rows.append(
            {
                "scale": scale,
                "wall_s": statistics.median(walls),
                "peak_mb": statistics.median(peaks),
                "tasks": tasks,
                "sizes_mb": sizes,
            }
        )
        figures += [
            Figure(f"demo wall at scale {scale:g} ({changes} changes)", "s", walls),
            Figure(f"demo peak memory at scale {scale:g}", "MB", peaks),
        ]
        for task in ("bronze", "silver", "gold", "warehouse"):
            figures.append(Figure(f"{task} at scale {scale:g}", "s", [tasks[task]]))
        for layer, mb in sizes.items():
            figures.append(Figure(f"{layer} size at scale {scale:g}", "MB", [mb]))
    growth = rows[-1]["peak_mb"] / rows[0]["peak_mb"]
    figures.append(
        Figure(f"peak memory scale {scales[-1]:g} / scale {scales[0]:g}", "x", [growth], "< 4x")
    )
    _scaling_chart(rows, chart)
    progress(f"chart: {chart}")
    return figures


def _scaling_chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    scales = [r["scale"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for task in ("bronze", "silver", "gold", "warehouse"):
        axes[0].plot(scales, [r["tasks"][task] for r in rows], marker="o", label=task)
    axes[0].set(title="time per task (s)", xlabel="scale", xscale="log")
    axes[0].legend()
    axes[1].plot(scales, [r["peak_mb"] for r in rows], marker="o", label="peak memory")
    axes[1].plot(
        scales, [rows[0]["peak_mb"] * s / scales[0] for s in scales], ls="--", label="linear growth"
    )
    axes[1].set(title="demo peak memory (MB)", xlabel="scale", xscale="log", yscale="log")
    axes[1].legend()
    for layer in ("raw", "bronze", "silver", "gold"):
        axes[2].plot(scales, [r["sizes_mb"][layer] for r in rows], marker="o", label=layer)
    axes[2].set(title="size on S3 per layer (MB)", xlabel="scale", xscale="log", yscale="log")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
