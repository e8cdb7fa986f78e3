"""Commands against a running stack whose app database is still empty: the fix is named."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from sandbox.platform.stack import EmbeddedStack

from .conftest import Sandbox

pytestmark = pytest.mark.slow


def test_run_and_simulate_before_seed_say_to_seed(
    running_stack: EmbeddedStack, sandbox: Sandbox
) -> None:
    settings = running_stack.settings
    empty = f"app_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(empty)))
    env = settings.as_env() | {"SANDBOX_APP_DB": empty}
    try:
        for command in (["run"], ["simulate", "--changes", "5"]):
            ran = sandbox(*command, env=env)
            assert ran.code == 1, command
            lines = ran.err.strip().splitlines()
            assert len(lines) == 1 and "sandbox seed" in lines[0] and empty in lines[0], ran.err
    finally:
        with psycopg.connect(settings.postgres_url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(empty)))
