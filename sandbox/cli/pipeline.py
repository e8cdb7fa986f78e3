"""Commands that run the pipeline: run, demo, report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sandbox.cli.root import (
    AsOfOpt,
    ProfileOpt,
    app,
    console,
    fail,
    history_day,
    require_own_stack,
    require_seeded,
    settings_for,
    stack_for,
)
from sandbox.cli.services import refuse_mismatched_postgres
from sandbox.platform.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.platform.settings import Settings


@app.command("run", rich_help_panel="Pipeline")
def run_tasks(
    tasks: Annotated[
        list[str] | None,
        typer.Argument(help="Tasks or layers: ingest, bronze, silver, gold (default: all)."),
    ] = None,
    profile: ProfileOpt = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Run again whenever a file of the project changes (a fresh import of "
            "the jobs each time, without restarting Python or PySpark). Ctrl-C stops.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Rebuild every silver table and gold mart, including those whose code "
            "and inputs did not change since they were published (kept by default).",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Build gold from the facts that had happened by this ISO 8601 time "
            "(a scheduled Airflow run passes its data interval's end; empty: now).",
        ),
    ] = None,
) -> None:
    """Run pipeline tasks in DAG order: ingest, bronze, silver, gold, warehouse, report.

    Silver tables and gold marts whose code and inputs are those of their published
    version are kept as they are; --force rebuilds them.
    """
    from sandbox.jobs.as_of import parse_as_of
    from sandbox.orchestrate import select

    settings = settings_for(profile)
    if not watch and settings.warm_runner and settings.profile == "embedded":
        from sandbox.cli.root import _state
        from sandbox.orchestrate.warm_client import delegate

        args = ["--debug"] if _state["debug"] else []
        args += ["run", *(tasks or []), *(["--force"] if force else [])]
        args += [*(["--as-of", as_of] if as_of is not None else [])]
        args += [*(["--profile", profile] if profile else [])]
        code = delegate(settings.run_dir / "runner.sock", args)
        if code is not None:  # the warm runner ran it: same code, same settings
            raise typer.Exit(code)
    require_own_stack(settings)
    try:
        cut = parse_as_of(as_of)
        chosen = select(tasks)
        if any(t.name == "ingest_dms" for t in chosen):
            require_seeded(settings)
    except SandboxError as exc:
        raise fail(exc) from exc
    if not watch:
        if any(t.heavy for t in chosen):
            from sandbox.orchestrate import preload

            preload()  # then frozen out of the garbage collector: see ``preload``
        _run_once(settings, tasks, len(chosen), force, cut)
        return
    from sandbox.orchestrate.watch import watch as watch_files

    def once() -> int:
        from sandbox.platform import stop_sessions

        try:
            _run_once(settings, tasks, len(chosen), force, cut)
        except typer.Exit as exc:
            return exc.exit_code
        finally:
            stop_sessions()  # the child exits without atexit handlers
        return 0

    try:
        watch_files(once, progress=lambda m: console.print(m, highlight=False))
    except KeyboardInterrupt:
        console.print("watch: stopped")


def _run_once(
    settings, tasks: list[str] | None, count: int, force: bool = False, as_of=None
) -> None:
    from rich.progress import Progress

    from sandbox.orchestrate import run_pipeline

    try:
        with Progress(console=console, transient=False) as bar:
            job = bar.add_task("pipeline", total=count)
            started: list[str] = []

            def on_task(task) -> None:
                if started:
                    bar.advance(job)  # the previous task is done
                started.append(task.name)
                bar.update(job, description=f"{task.name}: {task.doc}")

            run = run_pipeline(
                settings,
                tasks,
                progress=lambda m: bar.console.print(f"  {m}"),
                on_task=on_task,
                force=force,
                as_of=as_of,
            )
            bar.update(job, completed=count, description="pipeline done")
    except SandboxError as exc:
        raise fail(exc) from exc
    from rich.table import Table

    table = Table(title="pipeline run")
    table.add_column("task")
    table.add_column("seconds", justify="right")
    for t in run.tasks:
        table.add_row(t.name, f"{t.seconds:.1f}")
    console.print(table)


@app.command(rich_help_panel="Pipeline")
def demo(
    profile: ProfileOpt = None,
    scale: Annotated[
        float, typer.Option(help="Data size of the first run (1 = 10k players).")
    ] = 1.0,
    changes: Annotated[
        int | None, typer.Option(help="Row changes to simulate (default 10,000 x scale).")
    ] = None,
    as_of: AsOfOpt = None,
) -> None:
    """Run the whole platform end to end: up, seed, DMS, traffic, Firehose, jobs, report."""
    from sandbox.orchestrate import run_demo
    from sandbox.serve import layer_counts

    settings = settings_for(profile)
    refuse_mismatched_postgres(settings)
    try:
        result = run_demo(
            settings,
            scale=scale,
            changes=changes,
            stack=stack_for(settings),
            as_of=history_day(as_of),
            step=lambda m: console.print(m),
        )
    except SandboxError as exc:
        raise fail(exc) from exc
    totals: dict[str, list[int]] = {}
    for layer, _, n in layer_counts(settings):
        totals.setdefault(layer, []).append(n if isinstance(n, int) else 0)
    from rich.table import Table

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
        f"warehouse: psql {_warehouse_shown(settings)}  (schema gold)\n"
        f"next:      uv run just lab  (notebooks), uv run sandbox run gold  (one task),"
        f" uv run sandbox demo  (again: incremental)"
    )


@app.command(rich_help_panel="Pipeline")
def report(profile: ProfileOpt = None) -> None:
    """Write the offline HTML report of the gold metrics and print its path."""
    from sandbox.serve import write_report

    settings = settings_for(profile)
    import psycopg

    try:
        path = write_report(settings)
    except psycopg.errors.UndefinedTable as exc:
        raise fail(
            SandboxError("report: the warehouse has no gold tables yet; run `sandbox run` first")
        ) from exc
    except psycopg.OperationalError as exc:
        raise fail(exc) from exc
    print(path)


def _warehouse_shown(settings: Settings) -> str:
    """The warehouse URL to paste into psql; an external one without its password."""
    from sandbox.platform.endpoints import shown_libpq_url

    dsn = settings.warehouse_dsn()
    return shown_libpq_url(dsn) if settings.external("warehouse") else dsn
