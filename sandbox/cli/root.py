"""The root of the ``sandbox`` command: the Typer app, consoles and shared helpers.

Errors a user can cause (a bad setting, a busy port, a stack that is not running, an
unknown task) end the command with one line that names the thing and the fix. The
traceback goes to ``<home>/logs/cli.log``, and to the terminal with ``sandbox --debug``.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from sandbox.platform.errors import PortInUseError, SandboxError
from sandbox.platform.profiles import Profile

if TYPE_CHECKING:
    from sandbox.platform.settings import Settings

# Settings (pydantic), rich tables and every library are imported by the commands that
# use them, not here: `sandbox --help` and `sandbox status` start in a fraction of a
# second (docs/benchmarks.md, group `cli`).


class SandboxApp(typer.Typer):
    """A Typer app that reports an uncaught error as one line instead of a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if _state["debug"]:
                raise
            log = _log_traceback(exc)
            where = f"traceback in {log}, or" if log else "for the traceback"
            _print_error(f"{describe(exc)} ({where} rerun as `sandbox --debug ...`)")
            sys.exit(1)


class PanelGroup(typer.core.TyperGroup):
    """Help as plain text, its commands grouped under their ``rich_help_panel``.

    Typer's rich help imports markdown, pygments and rich's tables (0.2 s, most of what
    `sandbox --help` took); click's formatter needs none of them."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        shown = [(n, c) for n in self.list_commands(ctx) if (c := self.get_command(ctx, n))]
        shown = [(n, c) for n, c in shown if not c.hidden]
        if not shown:
            return
        panels: dict[str, list[tuple[str, str]]] = {}
        for name, cmd in shown:
            panel = getattr(cmd, "rich_help_panel", None) or "Commands"
            # the whole first sentence, wrapped by write_dl, not cut at the column
            panels.setdefault(panel, []).append((name, cmd.get_short_help_str(200)))
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


def command_group(help: str) -> typer.Typer:
    """A group of subcommands (``sandbox aws ...``), with the same plain help."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None, cls=PanelGroup)


app = SandboxApp(
    help="A local lakehouse: Postgres -> DMS/Firehose -> S3 raw -> bronze/silver/gold -> BI.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    cls=PanelGroup,
)
console = Console()
err = Console(stderr=True)
_state = {"debug": False}

ProfileOpt = Annotated[
    Profile | None,
    typer.Option("--profile", help="embedded (default, no Docker) or compose (Docker Compose)."),
]

AsOfOpt = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Day the seeded history ends and traffic begins (default: today, UTC).",
    ),
]


def history_day(as_of: datetime | None) -> date | None:
    """The ``--as-of`` day for a database that will get live traffic: today or earlier."""
    if as_of is None:
        return None
    today = datetime.now(UTC).date()
    if as_of.date() > today:
        late = f"--as-of {as_of.date()} is after today ({today}, UTC)"
        raise fail(
            SandboxError(f"{late}: simulated traffic starts today, history must end by then")
        )
    return as_of.date()


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error.")
    ] = False,
) -> None:
    """A local lakehouse: Postgres -> DMS/Firehose -> S3 raw -> bronze/silver/gold -> BI."""
    _state["debug"] = debug


def describe(exc: BaseException) -> str:
    """One line for an error: what failed and, for the common causes, the fix."""
    import psycopg

    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, PortInUseError):
        return _name_port_variables(" ".join(str(exc).split()))
    if isinstance(exc, SandboxError):
        return " ".join(str(exc).split())
    if isinstance(exc, psycopg.OperationalError):
        from sandbox.platform.settings import load_settings

        try:
            s = load_settings()
            where = f"Postgres at {s.host}:{s.postgres_port}"
        except SandboxError:
            where = "Postgres"
        return f"cannot reach {where} ({first}); is the stack up? `uv run sandbox up`"
    text = f"{type(exc).__name__}: {first}"
    if "_delta_log" in first:
        # A job read a Delta table that no earlier task has written yet.
        return f"{text}; a layer it reads is not built yet: run `uv run sandbox run` (all tasks)"
    if isinstance(exc, ConnectionError) or "Connection refused" in str(exc):
        return f"{text}; a service is not answering: is the stack up? `uv run sandbox up`"
    return text


def _name_port_variables(message: str) -> str:
    """Replace the generic ``SANDBOX_<SERVICE>_PORT`` by the variables of the busy ports."""
    from sandbox.platform.settings import load_settings

    try:
        settings = load_settings()
    except SandboxError:
        return message
    ports = [int(p) for p in re.findall(r"port (\d+)", message)]
    names = sorted({v for p in ports if (v := settings.port_variable(p))})
    return message.replace("SANDBOX_<SERVICE>_PORT", " or ".join(names)) if names else message


def require_own_stack(settings: Settings) -> None:
    """Stop, in one line, if the servers on this home's ports belong to another home."""
    from sandbox.platform.identity import verify_home

    try:
        verify_home(settings)
    except SandboxError as exc:
        raise fail(exc) from exc
    except Exception:  # nothing answers: the command's own connection will say so
        return


def require_seeded(settings: Settings) -> None:
    """Stop with the fix if the stack on this home's ports is another home's, or if the
    app database has no application tables yet."""
    import psycopg

    require_own_stack(settings)

    with psycopg.connect(settings.postgres_url(settings.app_db), autocommit=True) as conn:
        row = conn.execute(
            "select to_regclass(%s)", (f"{settings.dms.source_schema}.players",)
        ).fetchone()
    if row is None:
        raise RuntimeError("select to_regclass(...) returned no row")
    (found,) = row
    if found is None:
        raise fail(
            SandboxError(
                f"the {settings.app_db!r} database has no application tables yet; "
                "run `uv run sandbox seed` first (or `uv run sandbox demo`, which seeds)"
            )
        )


def _log_traceback(exc: BaseException) -> Path | None:
    """Append the traceback to the CLI log of the current home; None if it cannot."""
    from sandbox.platform.settings import load_settings

    try:
        logs = load_settings().logs_dir
    except SandboxError:
        return None  # no home to log into; a settings error is whole in its one line
    try:
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / "cli.log"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {datetime.now(UTC).isoformat()} sandbox {' '.join(sys.argv[1:])}\n")
            f.write("".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return None


def settings_for(profile: Profile | None) -> Settings:
    """The settings of this command, ``--profile`` winning over ``SANDBOX_PROFILE``."""
    from sandbox.orchestrate.warm_client import CHILD_MARKER
    from sandbox.platform.settings import load_settings
    from sandbox.platform.variables import unknown_variables

    # a warm run's child: the client has warned already, in the same environment
    warned = os.environ.get(CHILD_MARKER)
    for name, likely in ({} if warned else unknown_variables(os.environ)).items():
        hint = f"; did you mean {likely}?" if likely else ""
        err.print(
            f"[yellow]warning:[/] {escape(name)} is not a setting, ignored{hint}",
            highlight=False,
            soft_wrap=True,
        )
    try:
        return load_settings(**({"profile": profile} if profile else {}))
    except SandboxError as exc:
        raise fail(exc) from exc


def stack_for(settings: Settings):
    if settings.profile == "compose":
        from sandbox.platform import ComposeStack

        return ComposeStack(settings)
    from sandbox.platform import EmbeddedStack

    return EmbeddedStack(settings)


def fail(exc: Exception) -> typer.Exit:
    """Print ``exc`` as one line (its traceback too under ``--debug``); exit code 1."""
    if _state["debug"]:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    else:
        _log_traceback(exc)
    _print_error(describe(exc))
    return typer.Exit(code=1)


def _print_error(message: str) -> None:
    # soft_wrap: one logical line stays one line, whatever the terminal width.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def counts_table(title: str, counts: dict[str, int]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
