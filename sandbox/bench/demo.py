"""The demo group: ``sandbox demo`` from stopped, and the demo at several scales."""

from __future__ import annotations

import ast
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from sandbox.bench.chart import scaling_chart
from sandbox.bench.figures import Figure
from sandbox.bench.homes import cli_env, private_home, sample_peak_rss, timed_cli
from sandbox.platform import Progress, Settings


def bench_demo(*, repeat: int = 3, scale: float = 1.0, progress: Progress = print) -> list[Figure]:
    """``sandbox demo`` from services stopped (fresh home) to report written."""
    walls, peaks, second_walls = [], [], []
    for i in range(repeat):
        with private_home() as s:
            env = cli_env(s)
            argv = [sys.executable, "-m", "sandbox", "demo", "--scale", str(scale)]
            out = subprocess.DEVNULL
            wall, peak = sample_peak_rss(subprocess.Popen(argv, env=env, stdout=out))
            timed_cli(["down"], env)
            second, _ = sample_peak_rss(subprocess.Popen(argv, env=env, stdout=out))
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


def bench_inner_loop(
    *, repeat: int = 3, scale: float = 1.0, progress: Progress = print
) -> list[Figure]:
    """``sandbox run silver gold warehouse`` again and again on a warm stack, as an
    engineer changing a job does. Plain runs from the shell (process start included):
    with ``--force`` (every table rebuilt) and with nothing changed (every table kept).
    Then under ``--watch``, from saving an edited job to the run's end, for an edit of
    one gold mart and of two silver tables (a small one and the largest): the edits
    go to a copy of the package, so the project's own files are never touched."""
    walls: dict[str, list[float]] = {"force": [], "unchanged": []}
    tasks: dict[str, list[float]] = {"silver": [], "gold": [], "warehouse": []}
    with private_home() as s, tempfile.TemporaryDirectory(prefix="sandbox-inner-") as tmp:
        env = cli_env(s)
        timed_cli(["demo", "--scale", str(scale)], env)  # stack up, data in, warm
        timed_cli(["run", *INNER_TASKS, "--force"], env)  # the first run warms caches
        for i in range(repeat):
            for kind, extra in (("force", ["--force"]), ("unchanged", [])):
                walls[kind].append(timed_cli(["run", *INNER_TASKS, *extra], env))
                if kind == "force":
                    last = json.loads((s.runtime_dir / "runs" / "last.json").read_text())
                    for t in last["tasks"]:
                        tasks[t["name"]].append(t["seconds"])
            progress(
                f"run {i + 1}/{repeat}: --force {walls['force'][-1]:.2f}s "
                f"("
                + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in tasks.items())
                + f"), unchanged {walls['unchanged'][-1]:.2f}s"
            )
        # A task that needs no Spark: how long before its work begins (the run's wall
        # less the task's own seconds: start-up and teardown, mostly start-up).
        before_work = []
        for _ in range(repeat):
            wall = timed_cli(["run", "warehouse", "--force"], env)
            last = json.loads((s.runtime_dir / "runs" / "last.json").read_text())
            before_work.append(wall - sum(t["seconds"] for t in last["tasks"]))
        progress(f"run warehouse: {', '.join(f'{x:.2f}s' for x in before_work)} before work")
        project = Path(tmp)
        shutil.copytree(
            PACKAGE, project / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__")
        )
        saves = {
            label: edit_function(project / PACKAGE.name / module, function)
            for label, (module, function) in WATCH_EDITS.items()
        }
        watched = watch_loop(env | {"PYTHONPATH": str(project)}, project, saves, repeat, progress)
        timed_cli(["down"], env)
    return [
        Figure(
            f"inner loop: run silver gold warehouse --force, warm (scale {scale:g})",
            "s",
            walls["force"],
        ),
        Figure(f"inner loop: the same, nothing changed (scale {scale:g})", "s", walls["unchanged"]),
        Figure("run warehouse (no Spark): wall less its work", "s", before_work, "<= 0.5 s"),
        *(
            Figure(f"inner loop: {name} task with --force (scale {scale:g})", "s", secs)
            for name, secs in tasks.items()
        ),
        *(
            Figure(
                f"inner loop under --watch: {label}, save to done (scale {scale:g})",
                "s",
                secs,
                "<= 2 s",
            )
            for label, secs in watched.items()
        ),
    ]


INNER_TASKS = ("silver", "gold", "warehouse")
PACKAGE = Path(__file__).resolve().parents[1]
# What the watch benchmark edits (in its copy of the package): label -> (file, function).
WATCH_EDITS = {
    "a gold mart edited": ("jobs/gold.py", "matches_per_map_daily"),
    "a small silver table edited": ("jobs/silver/commerce.py", "fct_payment"),
    "the largest silver table edited": ("jobs/silver/events.py", "player_events"),
}


def edit_function(path: Path, function: str) -> Callable[[int], None]:
    """A save of ``path`` that changes ``function``'s code, not its result: the n-th
    save sets a local ``_edit = n`` as the function's first statement."""
    original = path.read_text()
    tree = ast.parse(original)
    node = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function), None
    )
    if node is None:
        raise RuntimeError(f"bench: no function {function!r} in {path} to edit")
    lines = original.splitlines(keepends=True)
    first = node.body[0]
    head, tail = lines[: first.lineno - 1], lines[first.lineno - 1 :]

    def save(n: int) -> None:
        path.write_text("".join([*head, " " * first.col_offset + f"_edit = {n}\n", *tail]))

    return save


def watch_loop(
    env: dict[str, str],
    cwd: Path,
    saves: dict[str, Callable[[int], None]],
    repeat: int,
    progress: Progress,
) -> dict[str, list[float]]:
    """Seconds from each save to the end of the run ``sandbox run --watch`` starts on it
    (one watcher, run in ``cwd``; each kind of save is made ``repeat`` + 1 times, the
    first one not counted: it warms the watcher's child path)."""
    import queue
    import re
    import signal
    import threading
    import time

    argv = [sys.executable, "-m", "sandbox", "run", "--watch", *INNER_TASKS]
    proc = subprocess.Popen(
        argv,
        env=env | {"COLUMNS": "200"},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ends: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None  # stdout=PIPE
        for line in proc.stdout:
            if match := re.search(r"watch: run \d+ (done|failed)", line):
                ends.put(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    walls: dict[str, list[float]] = {label: [] for label in saves}
    count = 0
    try:
        if ends.get(timeout=300) != "done":  # the first run, before any save
            raise RuntimeError("bench: the first run under --watch failed")
        for label, save in saves.items():
            for i in range(repeat + 1):
                count += 1
                t0 = time.perf_counter()
                save(count)
                if ends.get(timeout=300) != "done":
                    raise RuntimeError(f"bench: a run under --watch failed ({label})")
                if i == 0:
                    continue
                walls[label].append(time.perf_counter() - t0)
                progress(f"watch, {label} {i}/{repeat}: {walls[label][-1]:.2f}s save to done")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return walls


def lake_sizes_mb(settings: Settings) -> dict[str, float]:
    """Bytes on the S3 server per layer (raw, bronze, silver, gold), in MB."""
    from sandbox.platform.services import s3_client

    s3 = s3_client(settings)
    sizes = {"raw": 0, "bronze": 0, "silver": 0, "gold": 0}
    for o in s3.list_objects(settings.raw_bucket, recursive=True):
        sizes["raw"] += o.size
    for layer in ("bronze", "silver", "gold"):
        for o in s3.list_objects(settings.lake_bucket, prefix=f"{layer}/", recursive=True):
            sizes[layer] += o.size
    return {k: round(v / 1e6, 2) for k, v in sizes.items()}


def bench_scale_256(*, repeat: int = 1, progress: Progress = print) -> list[Figure]:
    """The demo at scales 64 and 256 (10,000 changes each): does each layer's time grow
    no faster than its data from 64 to 256, and what is the peak memory at 256? A chart
    beside the main one, ``bench-results/scaling-256.png``."""
    return bench_scaling(
        repeat=repeat,
        scales=(64, 256),
        progress=progress,
        chart=Path("bench-results/scaling-256.png"),
    )


def bench_scaling(
    *,
    repeat: int = 1,
    scales: tuple[float, ...] = (1, 4, 16, 64),
    changes: int = 10_000,
    progress: Progress = print,
    chart: Path = Path("bench-results/scaling.png"),
) -> list[Figure]:
    """The demo at several scales: wall, peak memory, per-task times, size per layer; a chart.

    With ``repeat`` > 1 every figure is the median of the runs (sizes are the last run's:
    the same data each time)."""
    rows: list[dict] = []
    figures = []
    for scale in scales:
        walls, peaks = [], []
        task_times: dict[str, list[float]] = {}
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
                wall, peak = sample_peak_rss(
                    subprocess.Popen(argv, env=cli_env(s), stdout=subprocess.DEVNULL)
                )
                walls.append(wall)
                peaks.append(peak)
                tasks = {
                    t["name"]: t["seconds"]
                    for t in json.loads((s.runtime_dir / "runs" / "last.json").read_text())["tasks"]
                }
                for task, seconds in tasks.items():
                    task_times.setdefault(task, []).append(seconds)
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
                "tasks": {task: statistics.median(secs) for task, secs in task_times.items()},
                "sizes_mb": sizes,
            }
        )
        figures += [
            Figure(
                f"demo wall at scale {scale:g} ({changes} changes)",
                "s",
                walls,
                "<= 40 s" if scale == 16 else "",
            ),
            Figure(f"demo peak memory at scale {scale:g}", "MB", peaks),
        ]
        for task in ("bronze", "silver", "gold", "warehouse"):
            figures.append(Figure(f"{task} at scale {scale:g}", "s", task_times[task]))
        for layer, mb in sizes.items():
            figures.append(Figure(f"{layer} size at scale {scale:g}", "MB", [mb]))
    growth = rows[-1]["peak_mb"] / rows[0]["peak_mb"]
    figures.append(
        Figure(f"peak memory scale {scales[-1]:g} / scale {scales[0]:g}", "x", [growth], "< 4x")
    )
    scaling_chart(rows, chart)
    progress(f"chart: {chart}")
    return figures
