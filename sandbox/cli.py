"""The ``sandbox`` command line: thin wrappers over the library, with rich output."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from sandbox.services.base import SandboxError
from sandbox.settings import Profile, Settings, load_settings

app = typer.Typer(
    help="A local lakehouse: Postgres -> DMS/Firehose -> S3 raw -> bronze/silver/gold -> BI.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)

ProfileOpt = Annotated[
    Profile | None,
    typer.Option("--profile", help="embedded (default, no Docker) or compose (Docker Compose)."),
]


def _settings(profile: Profile | None) -> Settings:
    return load_settings(**({"profile": profile} if profile else {}))


def _stack(settings: Settings):
    if settings.profile == "compose":
        from sandbox.compose import ComposeStack

        return ComposeStack(settings)
    from sandbox.stack import EmbeddedStack

    return EmbeddedStack(settings)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=1)


def _status_table(statuses) -> Table:
    table = Table(title="sandbox services")
    for col in ("service", "state", "endpoint", "pid", "memory"):
        table.add_column(col)
    colors = {"running": "green", "stopped": "dim", "failed": "bold red"}
    for s in statuses:
        mem = f"{s.rss_mb:.0f} MB" if s.rss_mb is not None else ""
        table.add_row(s.name, f"[{colors[s.state]}]{s.state}[/]", s.endpoint, str(s.pid or ""), mem)
    return table


def _print_failures(statuses) -> None:
    for s in statuses:
        if s.state == "failed":
            err.print(f"[bold red]{s.name} failed[/]; last lines of {s.log}:")
            for line in s.log_tail:
                err.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def up(profile: ProfileOpt = None) -> None:
    """Start the services (a no-op for those already running)."""
    settings = _settings(profile)
    t0 = time.perf_counter()
    try:
        statuses = _stack(settings).up(progress=lambda m: console.print(f"  {m}"))
    except SandboxError as exc:
        raise _fail(exc) from exc
    console.print(_status_table(statuses))
    console.print(f"up in {time.perf_counter() - t0:.1f}s")


@app.command()
def down(profile: ProfileOpt = None) -> None:
    """Stop every process the sandbox started (by pid, with a deadline)."""
    settings = _settings(profile)
    t0 = time.perf_counter()
    _stack(settings).down(progress=lambda m: console.print(f"  {m}"))
    console.print(f"down in {time.perf_counter() - t0:.1f}s")


@app.command()
def status(
    profile: ProfileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Show each service: running, stopped or failed (with its log tail)."""
    settings = _settings(profile)
    statuses = _stack(settings).status()
    if as_json:
        payload = {"profile": settings.profile, "services": [s.to_json() for s in statuses]}
        print(json.dumps(payload, indent=2))
        return
    console.print(_status_table(statuses))
    _print_failures(statuses)


@app.command()
def reset(
    profile: ProfileOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop the services and wipe all sandbox data."""
    settings = _settings(profile)
    if not yes:
        typer.confirm(f"Delete all data under {settings.runtime_dir}?", abort=True)
    _stack(settings).reset(progress=lambda m: console.print(f"  {m}"))


@app.command()
def doctor(
    profile: ProfileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Preflight: ports, disk, memory, binaries, Java, Docker, CPU architecture."""
    from sandbox.doctor import run_checks

    checks = run_checks(_settings(profile))
    failed = [c for c in checks if c.level == "fail"]
    if as_json:
        print(json.dumps({"ok": not failed, "checks": [c.__dict__ for c in checks]}, indent=2))
    else:
        table = Table(title="sandbox doctor")
        for col in ("check", "", "detail"):
            table.add_column(col)
        marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
        for c in checks:
            table.add_row(c.name, marks[c.level], c.detail)
        console.print(table)
    if failed:
        raise typer.Exit(code=1)


ingest_app = typer.Typer(help="Land source data in S3 raw, as AWS DMS and Firehose do.")
app.add_typer(ingest_app, name="ingest")


@app.command()
def seed(
    scale: Annotated[float, typer.Option(help="1 = 10k players, 100k match-player rows.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 42,
    export: Annotated[
        Path | None, typer.Option(help="Write the tables as Parquet here instead of loading.")
    ] = None,
) -> None:
    """Create the app schema and load deterministic initial data."""
    from sandbox.app import generator

    if export is not None:
        counts = generator.export(export, scale=scale, seed=seed)
        console.print(f"wrote {sum(counts.values())} rows in {len(counts)} tables to {export}")
        return
    settings = _settings(None)
    import psycopg

    try:
        with psycopg.connect(settings.postgres_url(settings.app_db), autocommit=True) as conn:
            counts = generator.seed(conn, scale=scale, seed=seed)
    except (SandboxError, psycopg.OperationalError) as exc:
        raise _fail(exc) from exc
    _counts_table("seeded app database", counts)


@app.command()
def simulate(
    changes: Annotated[int | None, typer.Option(help="Stop after this many row changes.")] = None,
    duration: Annotated[float | None, typer.Option(help="Or stop after this many seconds.")] = None,
    rate: Annotated[
        float | None, typer.Option(help="Transactions (or, with --events-only, events) per second.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed for the traffic.")] = 7,
    events: Annotated[bool, typer.Option(help="Publish the application events (SNS).")] = True,
    events_only: Annotated[
        bool, typer.Option("--events-only", help="Only publish events; no database changes.")
    ] = False,
    count: Annotated[int | None, typer.Option(help="With --events-only: how many events.")] = None,
) -> None:
    """Application traffic: transactions on the app database and the events they imply."""
    import psycopg

    from sandbox.app.simulator import Simulator
    from sandbox.events.sns import publisher

    settings = _settings(None)
    pub = publisher(settings) if (events or events_only) else None
    try:
        with psycopg.connect(settings.postgres_url(settings.app_db), autocommit=True) as conn:
            if events_only:
                from sandbox.events.traffic import run_events

                if count is None and duration is None:
                    count = 10_000
                t0 = time.perf_counter()
                sent = run_events(conn, pub.publish_many, count=count, duration_s=duration,
                                  rate=rate, seed=seed)  # fmt: skip
                console.print(f"{sent} events published in {time.perf_counter() - t0:.1f}s "
                              "(spooled for Firehose: `sandbox ingest firehose`)")  # fmt: skip
                return
            if changes is None and duration is None:
                changes = 1000
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("simulating", total=changes or duration)
                t0 = time.monotonic()

                def tick(r) -> None:
                    bar.update(task, completed=r.changes if changes else time.monotonic() - t0)

                sim = Simulator(conn, seed=seed, on_event=pub.publish if pub else None)
                report = sim.run(changes=changes, duration_s=duration, rate_tps=rate, progress=tick)
    except (psycopg.OperationalError, ValueError) as exc:
        raise _fail(exc) from exc
    finally:
        if pub is not None:
            pub.close()
    console.print(
        f"{report.transactions} transactions, {report.changes} row changes, "
        f"{report.events} events: {report.by_kind}"
    )


@ingest_app.command("firehose")
def ingest_firehose(
    follow: Annotated[
        bool, typer.Option("--follow", help="Deliver by the buffering hints until Ctrl-C.")
    ] = False,
) -> None:
    """Firehose: deliver the spooled events to S3 raw (now, or continuously by the hints)."""
    from sandbox.events.firehose import DeliveryReport
    from sandbox.events.sns import delivery_streams

    settings = _settings(None)
    streams = delivery_streams(settings)
    total = DeliveryReport()
    try:
        while True:
            for stream in streams.values():
                total.merge(stream.flush(force=not follow))
            if not follow:
                break
            time.sleep(min(1.0, settings.firehose.buffer_interval_s / 4))
    except KeyboardInterrupt:
        console.print("stopped")
    console.print(
        f"firehose: {total.delivered} records in {len(total.objects)} objects, "
        f"{total.failed} failed records in {len(total.error_objects)} error objects"
        + (f" ({total.reasons})" if total.reasons else "")
    )


@ingest_app.command("dms")
def ingest_dms(
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep replicating until Ctrl-C.")
    ] = False,
) -> None:
    """DMS: full load if not done, then CDC up to now (or continuously)."""
    from sandbox.dms.emulator import DmsTask

    settings = _settings(None)
    task = DmsTask(settings)
    t0 = time.perf_counter()
    try:
        if follow:
            console.print("replicating; Ctrl-C to stop")
            try:
                report = task.follow(progress=lambda m: console.print(f"  {m}"))
            except KeyboardInterrupt:
                console.print("stopped")
                return
        else:
            report = task.run(progress=lambda m: console.print(f"  {m}"))
    except SandboxError as exc:
        raise _fail(exc) from exc
    console.print(
        f"dms: {len(report.full_load_files)} full-load files, {report.changes} changes "
        f"in {len(report.cdc_files)} CDC files, {time.perf_counter() - t0:.1f}s"
    )


@app.command("run")
def run_tasks(
    tasks: Annotated[
        list[str] | None,
        typer.Argument(help="Tasks or layers: ingest, bronze, silver, gold (default: all)."),
    ] = None,
) -> None:
    """Run pipeline tasks in DAG order: ingest, bronze, silver, gold, warehouse, report."""
    from sandbox.pipeline import run_pipeline, select

    settings = _settings(None)
    try:
        chosen = select(tasks)
        with Progress(console=console, transient=False) as bar:
            job = bar.add_task("pipeline", total=len(chosen))
            started: list[str] = []

            def on_task(task) -> None:
                if started:
                    bar.advance(job)  # the previous task is done
                started.append(task.name)
                bar.update(job, description=f"{task.name}: {task.doc}")

            run = run_pipeline(
                settings, tasks, progress=lambda m: bar.console.print(f"  {m}"), on_task=on_task
            )
            bar.update(job, completed=len(chosen), description="pipeline done")
    except SandboxError as exc:
        raise _fail(exc) from exc
    table = Table(title="pipeline run")
    table.add_column("task")
    table.add_column("seconds", justify="right")
    for t in run.tasks:
        table.add_row(t.name, f"{t.seconds:.1f}")
    console.print(table)


def _counts_table(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


@app.command()
def demo(
    profile: ProfileOpt = None,
    scale: Annotated[
        float, typer.Option(help="Data size of the first run (1 = 10k players).")
    ] = 1.0,
    changes: Annotated[
        int | None, typer.Option(help="Row changes to simulate (default 10,000 x scale).")
    ] = None,
) -> None:
    """Run the whole platform end to end: up, seed, DMS, traffic, Firehose, jobs, report."""
    from sandbox.demo import run_demo
    from sandbox.report import layer_counts

    settings = _settings(profile)
    try:
        result = run_demo(settings, scale=scale, changes=changes, stack=_stack(settings),
                          step=lambda m: console.print(m))  # fmt: skip
    except SandboxError as exc:
        raise _fail(exc) from exc
    totals: dict[str, list[int]] = {}
    for layer, _, n in layer_counts(settings):
        totals.setdefault(layer, []).append(n if isinstance(n, int) else 0)
    table = Table(title="rows per layer")
    for col in ("layer", "tables", "rows"):
        table.add_column(col, justify="right" if col != "layer" else "left")
    for layer, ns in totals.items():
        table.add_row(layer, str(len(ns)), f"{sum(ns):,}")
    console.print(table)
    flagged = {f"{t}: {r}": n for t, rules in result.quality.items() for r, n in rules.items() if n}
    if flagged:
        dq = Table(title="data quality: rows quarantined by rule")
        dq.add_column("table: rule")
        dq.add_column("rows", justify="right")
        for k, n in flagged.items():
            dq.add_row(k, str(n))
        console.print(dq)
    else:
        console.print("data quality: every rule passed")
    kind = "first run (seeded)" if result.first_run else "incremental run (new changes only)"
    console.print(
        f"\n[bold]{kind}[/]: {result.changes:,} row changes and {result.events:,} events "
        f"simulated, {result.cdc_changes:,} changes captured by DMS, "
        f"in {result.total_s:.1f}s\n"
        f"report:    {result.report}\n"
        f"warehouse: psql {settings.postgres_url(settings.warehouse_db)}  (schema gold)\n"
        f"next:      uv run just lab  (notebooks), uv run sandbox run gold  (one task),"
        f" uv run sandbox demo  (again: incremental)"
    )


@app.command()
def report() -> None:
    """Write the offline HTML report of the gold metrics and print its path."""
    from sandbox.report import write_report

    settings = _settings(None)
    import psycopg

    try:
        path = write_report(settings)
    except psycopg.errors.UndefinedTable as exc:
        raise _fail(SandboxError("report: the warehouse has no gold tables yet; run "
                                 "`sandbox run` first")) from exc  # fmt: skip
    except psycopg.OperationalError as exc:
        raise _fail(exc) from exc
    print(path)


@app.command()
def bench(
    repeat: Annotated[int, typer.Option(help="Measurements per figure.")] = 3,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Groups: stack, dms, firehose, engines, demo, reference, scaling."),
    ] = None,
    json_path: Annotated[
        Path, typer.Option("--json", help="Where to write the figures as JSON.")
    ] = Path("bench-results/bench.json"),
) -> None:
    """Measure the sandbox on a private home and free ports (never your running stack)."""
    from sandbox import bench as b

    groups = {"stack": b.bench_stack, "dms": b.bench_dms, "firehose": b.bench_firehose,
              "engines": b.bench_engines, "demo": b.bench_demo,
              "reference": b.bench_reference, "scaling": b.bench_scaling}  # fmt: skip
    chosen = only or list(groups)
    unknown = set(chosen) - set(groups)
    if unknown:
        raise _fail(SandboxError(f"unknown benchmark group(s) {sorted(unknown)}; "
                                 f"choose from {sorted(groups)}"))  # fmt: skip
    figures = []
    for name in chosen:
        console.print(f"[bold]{name}[/]")
        figures += groups[name](repeat=repeat, progress=lambda m: console.print(f"  {m}"))
    table = Table(title=f"sandbox bench ({b.machine()['cores']} cores)")
    for col in ("figure", "median", "spread", "samples", "target"):
        table.add_column(col)
    for f in figures:
        samples = ", ".join(f"{x:.2f}" for x in f.samples)
        table.add_row(f.name, f"{f.median:.2f} {f.unit}", f"{f.spread:.2f}", samples, f.target)
    console.print(table)
    b.write_results(figures, json_path)
    console.print(f"written to {json_path}")


if __name__ == "__main__":
    app()
