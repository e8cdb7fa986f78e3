"""Commands for the course case on a local AWS endpoint: aws up|deploy|run, logs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sandbox.cli.root import app, command_group, console, fail, settings_for
from sandbox.platform import SandboxError

aws_app = command_group(
    "Step Functions, Lambda, ECS, EventBridge and CloudWatch on a local endpoint."
)
app.add_typer(aws_app, name="aws", rich_help_panel="Orchestration")


@aws_app.command("up")
def aws_up() -> None:
    """Start the stack if needed, then the local AWS endpoint, and deploy aws/ to it."""
    from sandbox.orchestrate.aws.deploy import deploy
    from sandbox.platform import EmbeddedStack

    settings = settings_for(None)
    stack = EmbeddedStack(settings)
    try:
        stack.up(progress=lambda m: console.print(f"  {m}"))
        stack.start_optional("aws", progress=lambda m: console.print(f"  {m}"))
        done = deploy(settings)
    except SandboxError as exc:
        raise fail(exc) from exc
    _print_deployment(settings, done)


@aws_app.command("deploy")
def aws_deploy() -> None:
    """Deploy (again) the functions, state machines, rules and notifications of aws/."""
    from sandbox.orchestrate.aws.deploy import deploy

    settings = settings_for(None)
    try:
        done = deploy(settings)
    except SandboxError as exc:
        raise fail(exc) from exc
    except OSError as exc:
        raise fail(
            SandboxError(
                f"aws: the endpoint {settings.aws_endpoint} does not answer; run `sandbox aws up`"
            )
        ) from exc
    _print_deployment(settings, done)


def _print_deployment(settings, done) -> None:
    from rich.table import Table

    table = Table(title=f"deployed to {settings.aws_endpoint}")
    table.add_column("kind")
    table.add_column("name")
    for kind, names in (
        ("state machine", done.state_machines),
        ("function", done.functions),
        ("rule", done.rules),
    ):
        for name in names:
            table.add_row(kind, name)
    console.print(table)
    console.print(
        f"try:  uv run sandbox aws run dbt_build\n"
        f"      uv run aws --endpoint-url {settings.aws_endpoint} --region {settings.s3_region} "
        f"stepfunctions list-executions --state-machine-arn "
        f"{done.state_machines.get('dbt_build', '<arn>')}\n"
        f"      uv run sandbox logs /aws/vendedlogs/states/dbt_build"
    )


@aws_app.command("run")
def aws_run(
    state_machine: Annotated[
        str, typer.Argument(help="dbt_build or lake_pipeline (aws/stepfunctions).")
    ],
    input_json: Annotated[str, typer.Option("--input", help="Execution input (JSON).")] = "{}",
    wait: Annotated[bool, typer.Option(help="Wait for the end and print the states.")] = True,
) -> None:
    """Start an execution; with --wait (default), print each state and the result."""
    from sandbox.orchestrate.aws import executions

    settings = settings_for(None)
    try:
        payload = json.loads(input_json)
    except json.JSONDecodeError as exc:
        raise fail(SandboxError(f"--input is not JSON: {exc}")) from exc
    try:
        arn = executions.start(settings, state_machine, payload)
        console.print(f"started {arn}")
        if not wait:
            return
        result = executions.wait(settings, arn)
    except SandboxError as exc:
        raise fail(exc) from exc
    for state, kind in result.states:
        console.print(f"  {kind:<26} {state}")
    color = "green" if result.status == "SUCCEEDED" else "bold red"
    console.print(
        f"[{color}]{result.status}[/] in {result.seconds:.1f}s"
        + (f": {result.error} {result.cause or ''}" if result.error else "")
    )
    for failure in result.failures:
        console.print(f"  [red]task failed[/] {failure[:2000]}", markup=True, highlight=False)
    if result.status != "SUCCEEDED":
        raise typer.Exit(code=1)


@app.command("logs", rich_help_panel="Orchestration")
def logs(
    group: Annotated[str, typer.Argument(help="Log group, e.g. /aws/lambda/run_pipeline_task.")],
    stream: Annotated[str | None, typer.Option(help="Only streams starting with this.")] = None,
    limit: Annotated[int, typer.Option(help="The newest N events.")] = 200,
) -> None:
    """Print a CloudWatch Logs group of the local AWS endpoint (Lambda, ECS, executions)."""
    from sandbox.orchestrate.aws import log_lines

    settings = settings_for(None)
    try:
        for line in log_lines(settings, group, stream_prefix=stream, limit=limit):
            print(line)
    except SandboxError as exc:
        raise fail(exc) from exc
