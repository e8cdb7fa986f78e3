"""Commands that make and move source data: seed, simulate, ingest dms|firehose."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from sandbox.cli.root import (
    AsOfOpt,
    ProfileOpt,
    app,
    command_group,
    console,
    counts_table,
    fail,
    history_day,
    require_own_stack,
    require_seeded,
    settings_for,
)
from sandbox.platform import SandboxError

ingest_app = command_group("Land source data in S3 raw, as AWS DMS and Firehose do.")
app.add_typer(ingest_app, name="ingest", rich_help_panel="Source data and ingestion")


@app.command(rich_help_panel="Source data and ingestion")
def seed(
    scale: Annotated[float, typer.Option(help="1 = 10k players, 100k match-player rows.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 42,
    export: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Instead of loading, write DIR/app/<table>.parquet and "
            "DIR/events/<stream>.jsonl (the layout of data_samples/).",
        ),
    ] = None,
    as_of: AsOfOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Create the app schema and load deterministic initial data."""
    from sandbox.app import loader

    if export is not None:  # a file snapshot: any day, no traffic follows it
        day = as_of.date() if as_of else None
        counts = loader.export(export, scale=scale, seed=seed, as_of=day)
        console.print(f"wrote {sum(counts.values())} rows in {len(counts)} tables to {export}")
        return
    day = history_day(as_of)
    settings = settings_for(profile)
    require_own_stack(settings)
    import psycopg

    try:
        with psycopg.connect(settings.postgres_url(settings.app_db), autocommit=True) as conn:
            counts = loader.seed(conn, scale=scale, seed=seed, as_of=day)
    except (SandboxError, psycopg.OperationalError) as exc:
        raise fail(exc) from exc
    counts_table("seeded app database", counts)


@app.command(rich_help_panel="Source data and ingestion")
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
    profile: ProfileOpt = None,
) -> None:
    """Application traffic: transactions on the app database and the events they imply."""
    import psycopg

    from sandbox.app import Simulator
    from sandbox.ingest.events import publisher

    settings = settings_for(profile)
    require_seeded(settings)
    pub = publisher(settings) if (events or events_only) else None
    try:
        with psycopg.connect(settings.postgres_url(settings.app_db), autocommit=True) as conn:
            if events_only:
                from sandbox.ingest.events import run_events

                if count is None and duration is None:
                    count = 10_000
                assert pub is not None  # made for events_only
                t0 = time.perf_counter()
                sent = run_events(
                    conn, pub.publish_many, count=count, duration_s=duration, rate=rate, seed=seed
                )
                console.print(
                    f"{sent} events published in {time.perf_counter() - t0:.1f}s "
                    "(spooled for Firehose: `sandbox ingest firehose`)"
                )
                return
            if changes is None and duration is None:
                changes = 1000
            from rich.progress import Progress

            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("simulating", total=changes or duration)
                t0 = time.monotonic()

                def tick(r) -> None:
                    bar.update(task, completed=r.changes if changes else time.monotonic() - t0)

                sim = Simulator(conn, seed=seed, on_event=pub.publish if pub else None)
                report = sim.run(changes=changes, duration_s=duration, rate_tps=rate, progress=tick)
    except (psycopg.OperationalError, ValueError) as exc:
        raise fail(exc) from exc
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
    profile: ProfileOpt = None,
) -> None:
    """Firehose: deliver the spooled events to S3 raw (now, or continuously by the hints)."""
    from sandbox.ingest.events import DeliveryReport, delivery_streams

    settings = settings_for(profile)
    require_own_stack(settings)
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
        bool,
        typer.Option("--follow", help="Keep replicating until Ctrl-C; outlives a source restart."),
    ] = False,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Start over with a new slot and a full load (after the slot was lost).",
        ),
    ] = False,
    profile: ProfileOpt = None,
) -> None:
    """DMS: full load if not done, then CDC up to now (or continuously)."""
    from sandbox.ingest.dms import DmsTask

    settings = settings_for(profile)
    require_own_stack(settings)
    task = DmsTask(settings)
    t0 = time.perf_counter()

    def say(line: str) -> None:
        console.print(f"  {line}")

    try:
        report = task.run(progress=say, reload=True) if reload else None
        if follow:
            console.print("replicating; Ctrl-C to stop")
            try:
                report = task.follow(progress=say)
            except KeyboardInterrupt:
                console.print("stopped")
                return
        elif report is None:
            report = task.run(progress=say)
    except SandboxError as exc:
        raise fail(exc) from exc
    console.print(
        f"dms: {len(report.full_load_files)} full-load files, {report.changes} changes "
        f"in {len(report.cdc_files)} CDC files, {time.perf_counter() - t0:.1f}s"
    )
