"""Commands for Apache Airflow over the pipeline: airflow up|run|export."""

from __future__ import annotations

import typer

from sandbox.cli.root import app, command_group, console, fail, settings_for
from sandbox.platform import SandboxError

airflow_app = command_group(
    "Apache Airflow running the pipeline DAG, each task in its own process."
)
app.add_typer(airflow_app, name="airflow", rich_help_panel="Orchestration")

STATE_COLOR = {
    "success": "green",
    "failed": "red",
    "upstream_failed": "red",
    "up_for_retry": "yellow",
    "running": "cyan",
    "queued": "cyan",
}


@airflow_app.command("up")
def airflow_up() -> None:
    """Start the stack if needed, then Airflow (UI, scheduler, DAG processor) on 127.0.0.1."""
    from sandbox.orchestrate.airflow import AirflowClient, export
    from sandbox.platform import EmbeddedStack

    settings = settings_for(None)
    stack = EmbeddedStack(settings)
    try:
        export()
        stack.up(progress=lambda m: console.print(f"  {m}"))
        stack.start_optional("airflow", progress=lambda m: console.print(f"  {m}"))
        client = AirflowClient(settings)
        client.login()
        client.wait_for_dag()
    except SandboxError as exc:
        raise fail(exc) from exc
    console.print(
        f"Airflow UI: [bold]{settings.airflow_url}[/]  login: {settings.airflow_user} / "
        f"{settings.airflow_password}\n"
        f"DAG: {settings.airflow_url}/dags/lakehouse_sandbox  (trigger it there, or "
        f"`uv run sandbox airflow run`)\n"
        f"stop: `uv run sandbox down` (stops Airflow with the rest)"
    )


@airflow_app.command("run")
def airflow_run(
    wait: bool = typer.Option(True, help="Follow the run and print each task's state."),
) -> None:
    """Trigger the lakehouse_sandbox DAG on the running Airflow; with --wait, follow it."""
    from sandbox.orchestrate.airflow import AirflowClient

    settings = settings_for(None)
    client = AirflowClient(settings)
    try:
        client.login()
        client.wait_for_dag(timeout=30)
        run_id = client.trigger()
        console.print(f"triggered {run_id}: {settings.airflow_url}/dags/lakehouse_sandbox")
        if not wait:
            return
        run = client.wait(run_id, on_change=_print_states)
    except SandboxError as exc:
        raise fail(exc) from exc
    from rich.table import Table

    table = Table(title=f"{run_id}: {run.state}")
    table.add_column("task")
    table.add_column("state")
    table.add_column("tries", justify="right")
    for task, state in run.tasks.items():
        color = STATE_COLOR.get(state, "white")
        table.add_row(task, f"[{color}]{state}[/]", str(run.tries.get(task, 0)))
    console.print(table)
    if run.state != "success":
        raise typer.Exit(code=1)


def _print_states(run) -> None:
    active = [f"{t}={s}" for t, s in run.tasks.items() if s not in ("none", "success")]
    done = sum(s == "success" for s in run.tasks.values())
    console.print(f"  {done}/{len(run.tasks)} done  {' '.join(active)}")


@airflow_app.command("export")
def airflow_export() -> None:
    """Write dags/lakehouse_sandbox.tasks.json and mwaa/requirements.txt from the project."""
    from sandbox.orchestrate.airflow import export

    written = export()
    for path in written:
        console.print(f"wrote {path}")
    if not written:
        console.print("dags/ and mwaa/ are up to date")


@airflow_app.command(
    "cli",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def airflow_cli(ctx: typer.Context) -> None:
    """Run any Airflow CLI command on the sandbox's Airflow: its home, database and DAGs.

    `sandbox airflow cli -- dags list-runs lakehouse_sandbox`. (`uv run airflow ...`
    alone would use ~/airflow, another database.)
    """
    import subprocess
    import sys
    from pathlib import Path

    from sandbox.platform.services.airflow_server import airflow_env, airflow_home

    settings = settings_for(None)
    exe = Path(sys.executable).parent / "airflow"
    if not exe.exists():
        raise fail(SandboxError("airflow: not installed here; `uv sync` installs its group"))
    home = airflow_home(settings)
    if not (home / "airflow.db").exists():
        raise fail(
            SandboxError(f"airflow: no database in {home} yet; `sandbox airflow up` creates it")
        )
    done = subprocess.run([str(exe), *ctx.args], env=airflow_env(settings), check=False)
    raise typer.Exit(done.returncode)
