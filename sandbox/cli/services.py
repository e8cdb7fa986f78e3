"""Commands for the services: up, down, status, reset, doctor."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from sandbox.cli.root import ProfileOpt, app, console, err, fail, settings_for, stack_for
from sandbox.platform import SandboxError

if TYPE_CHECKING:
    from rich.table import Table

    from sandbox.ingest.dms import SlotStatus


def refuse_mismatched_postgres(settings) -> None:
    """Stop before start-up if this home's Postgres cluster is of another major version."""
    if settings.profile != "embedded":
        return
    from sandbox.platform.doctor import postgres_data_version

    check = postgres_data_version(settings)
    if check.level == "fail":
        raise fail(SandboxError(check.detail))


def _status_table(statuses, home=None) -> Table:
    from rich.table import Table

    table = Table(title="sandbox services" + (f" ({home})" if home else ""))
    for col in ("service", "state", "endpoint", "pid", "memory"):
        table.add_column(col)
    colors = {"running": "green", "stopped": "dim", "failed": "bold red", "external": "cyan"}
    for s in statuses:
        mem = f"{s.rss_mb:.0f} MB" if s.rss_mb is not None else ""
        where = s.endpoint + (f" [dim]({s.detail})[/]" if getattr(s, "detail", None) else "")
        table.add_row(s.name, f"[{colors[s.state]}]{s.state}[/]", where, str(s.pid or ""), mem)
    return table


def _print_failures(statuses) -> None:
    for s in statuses:
        if s.state == "failed":
            err.print(f"[bold red]{s.name} failed[/]; last lines of {s.log}:")
            for line in s.log_tail:
                err.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


@app.command(rich_help_panel="Services")
def up(profile: ProfileOpt = None) -> None:
    """Start the services (a no-op for those already running)."""
    settings = settings_for(profile)
    refuse_mismatched_postgres(settings)
    t0 = time.perf_counter()
    try:
        statuses = stack_for(settings).up(progress=lambda m: console.print(f"  {m}"))
    except SandboxError as exc:
        raise fail(exc) from exc
    console.print(_status_table(statuses))
    console.print(f"up in {time.perf_counter() - t0:.1f}s")


@app.command(rich_help_panel="Services")
def down(profile: ProfileOpt = None) -> None:
    """Stop every process the sandbox started (by pid, with a deadline)."""
    settings = settings_for(profile)
    t0 = time.perf_counter()
    stack_for(settings).down(progress=lambda m: console.print(f"  {m}"))
    console.print(f"down in {time.perf_counter() - t0:.1f}s")


@app.command(rich_help_panel="Services")
def status(
    profile: ProfileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Show each service: running, stopped or failed (with its log tail)."""
    settings = settings_for(profile)
    statuses = stack_for(settings).status()
    slot = _dms_slot(settings, statuses)
    if as_json:
        payload = {
            "profile": settings.profile,
            "home": str(settings.runtime_dir),
            "services": [s.to_json() for s in statuses],
            "dms_slot": None if slot is None else asdict(slot),
        }
        print(json.dumps(payload, indent=2))
        return
    console.print(_status_table(statuses, settings.runtime_dir))
    if slot is not None:
        if slot.wal_status == "lost":
            line = f"[bold red]dms:[/] {slot.describe()}: run `sandbox ingest dms --reload`"
        else:
            line = f"dms: {slot.describe()}"
        console.print(line, soft_wrap=True)
    _print_failures(statuses)


def _dms_slot(settings, statuses) -> SlotStatus | None:
    """The DMS slot's WAL, when Postgres runs (None otherwise)."""
    if not any(s.name == "postgres" and s.state == "running" for s in statuses):
        return None
    from sandbox.ingest.dms import probe_slot

    return probe_slot(settings)
    import psycopg

    from sandbox.ingest.dms import slot_status

    try:
        with psycopg.connect(settings.postgres_url(settings.app_db), connect_timeout=2) as conn:
            return slot_status(conn, settings.dms.slot_name)
    except psycopg.OperationalError:
        return None


@app.command(rich_help_panel="Services")
def reset(
    profile: ProfileOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop the services and wipe all sandbox data."""
    settings = settings_for(profile)
    if not yes:
        typer.confirm(f"Delete all data under {settings.runtime_dir}?", abort=True)
    stack_for(settings).reset(progress=lambda m: console.print(f"  {m}"))


@app.command(rich_help_panel="Services")
def credentials() -> None:
    """Replace default credentials in .env (mode 600) with fresh ones (SANDBOX_EXPOSE needs it)."""
    from sandbox.platform.compose import ENV_FILE, generate_credentials

    try:
        changed = generate_credentials(ENV_FILE)
    except SandboxError as exc:
        raise fail(exc) from exc
    if not changed:
        console.print(f"{ENV_FILE}: no credential holds a default; nothing changed")
        return
    console.print(f"{ENV_FILE} (mode 600): fresh {', '.join(changed)}")
    console.print(
        "a Postgres cluster made with the old password keeps it: `uv run sandbox reset` "
        "(data lost) or ALTER ROLE before `up`"
    )


@app.command(rich_help_panel="Services")
def doctor(
    profile: ProfileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Preflight: ports, disk, memory, binaries, Java, Docker, CPU architecture."""
    from sandbox.platform import run_checks

    checks = run_checks(settings_for(profile))
    failed = [c for c in checks if c.level == "fail"]
    if as_json:
        print(json.dumps({"ok": not failed, "checks": [c.__dict__ for c in checks]}, indent=2))
    else:
        from rich.table import Table

        table = Table(title="sandbox doctor")
        for col in ("check", "", "detail"):
            table.add_column(col)
        marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
        for c in checks:
            table.add_row(c.name, marks[c.level], c.detail)
        console.print(table)
    if failed:
        raise typer.Exit(code=1)
