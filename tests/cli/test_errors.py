"""Errors a user can cause end in one line naming the thing and the fix; --debug adds the
traceback."""

from __future__ import annotations

import socket

import pytest

from .conftest import Sandbox


# Each case costs a process start; the other settings' messages are checked in-process
# in tests/platform/test_settings.py.
@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [("SANDBOX_POSTGRES_PORT", "abc", "integer"), ("SANDBOX_POSTGRES_VERSION", "17", "16 or 18")],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    sandbox: Sandbox, variable: str, value: str, allowed: str
) -> None:
    ran = sandbox("status", env={variable: value})
    assert ran.code == 1
    lines = ran.err.strip().splitlines()
    assert len(lines) <= 3, ran.err
    assert variable in lines[0] and repr(value) in lines[0] and allowed in lines[0]
    assert "Traceback" not in ran.err + ran.out


def test_postgres_18_from_the_environment_is_accepted(sandbox: Sandbox) -> None:
    # The environment delivers the string "18"; the setting once refused it.
    ran = sandbox("doctor", "--json", env={"SANDBOX_POSTGRES_VERSION": "18"})
    assert ran.code == 0, ran.err
    assert "pginstall18" in ran.out


def test_debug_shows_the_traceback(sandbox: Sandbox) -> None:
    ran = sandbox("--debug", "status", env={"SANDBOX_POSTGRES_PORT": "abc"})
    assert ran.code == 1
    assert "Traceback" in ran.err and "SANDBOX_POSTGRES_PORT" in ran.err


def test_stack_not_running_names_postgres_and_the_fix(sandbox: Sandbox) -> None:
    # `seed` reports through its own handler, `ingest dms` through the app's last resort.
    for command in (["seed", "--scale", "0.01"], ["ingest", "dms"]):
        ran = sandbox(*command)
        assert ran.code == 1, command
        lines = ran.err.strip().splitlines()
        assert len(lines) == 1, (command, ran.err)
        assert "cannot reach Postgres" in lines[0] and "sandbox up" in lines[0], command
        assert "Traceback" not in ran.err


def test_unknown_task_is_named(sandbox: Sandbox) -> None:
    ran = sandbox("run", "silverr")
    assert ran.code == 1
    assert "'silverr'" in ran.err and "silver" in ran.err.split("choose from")[1]


def test_every_command_that_reaches_the_stack_takes_profile() -> None:
    import typer.main

    from sandbox.cli import app

    root = typer.main.get_command(app)
    ingest = root.commands["ingest"]
    commands = {name: root.commands[name] for name in ("run", "seed", "simulate", "report")}
    commands |= {f"ingest {n}": ingest.commands[n] for n in ("dms", "firehose")}
    for name, command in commands.items():
        assert any("--profile" in p.opts for p in command.params), name


def test_up_refuses_a_cluster_of_another_postgres_version(sandbox: Sandbox, tmp_path) -> None:
    # A home initialised with Postgres 18, then SANDBOX_POSTGRES_VERSION back at 16.
    pgdata = tmp_path / "home" / "data" / "postgres"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")
    ran = sandbox("up", env={"SANDBOX_POSTGRES_VERSION": "16"})
    assert ran.code == 1
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and "Postgres 18" in lines[0] and "sandbox reset" in lines[0]
    assert not (tmp_path / "home" / "run").exists() or not any(
        (tmp_path / "home" / "run").iterdir()
    )


def test_a_misspelt_variable_is_flagged_not_silently_ignored(sandbox: Sandbox) -> None:
    ran = sandbox("status", "--json", env={"SANDBOX_POSTGRE_PORT": "6543"})
    assert ran.code == 0
    assert "SANDBOX_POSTGRE_PORT" in ran.err and "SANDBOX_POSTGRES_PORT" in ran.err


def test_up_on_a_busy_port_names_the_port_and_its_variable(sandbox: Sandbox) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        ran = sandbox("up", env={"SANDBOX_POSTGRES_PORT": str(port)})
    assert ran.code == 1
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and f"port {port}" in lines[0], ran.err
    assert "set SANDBOX_POSTGRES_PORT" in lines[0] or "with SANDBOX_POSTGRES_PORT" in lines[0]


def test_as_of_after_today_is_refused_before_touching_the_stack(sandbox: Sandbox) -> None:
    ran = sandbox("seed", "--as-of", "2999-01-01")
    assert ran.code == 1
    assert ran.err.strip().splitlines() == [ran.err.strip()] and "--as-of 2999-01-01" in ran.err
