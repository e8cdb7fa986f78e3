"""Shared fixtures: an isolated sandbox home with its own free ports per test module."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sandbox.app import generator, loader
from sandbox.platform.ports import free_home_ports
from sandbox.platform.services.s3 import s3_client
from sandbox.platform.settings import Settings
from sandbox.platform.stack import EmbeddedStack


def isolated_settings(home: Path, **overrides) -> Settings:
    """Settings for a private sandbox home on ports nobody else uses (without the warm
    runner, which only its own tests and the CLI's start: 0.2 GB and seconds of CPU)."""
    values = dict(home=home, warm_runner=False, **free_home_ports())
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def running_stack() -> Iterator[EmbeddedStack]:
    """A started embedded stack, private to the test module, stopped afterwards.

    Its home is not under pytest's temp root: a second pytest session started
    meanwhile resets that root to mode 700, which would lock Postgres (running as its
    own user) out of its data directory.
    """
    home = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    stack = EmbeddedStack(isolated_settings(home))
    stack.up()
    try:
        yield stack
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def fresh_source(stack: EmbeddedStack, *, seed: bool = True, **dms: object) -> Iterator[Settings]:
    """A fresh ``app`` database with its own slot, raw folders and lake; dropped after.

    ``seed`` loads the game schema at a small scale; ``dms`` overrides DMS settings.
    """
    tag = uuid.uuid4().hex[:8]
    base = stack.settings
    settings = base.model_copy(
        update={
            "app_db": f"app_{tag}",
            "lake_bucket": f"lake-{tag}",
            "firehose": base.firehose.model_copy(
                update={"prefix": f"events-{tag}", "error_prefix": f"events-errors-{tag}"}
            ),
            "dms": base.dms.model_copy(
                update=dict.fromkeys(["slot_name", "publication", "bucket_folder"], f"dms_{tag}")
                | dms
            ),
        }
    )
    with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(settings.app_db)))
    if seed:
        with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
            loader.seed(conn, scale=0.02, seed=3, as_of=generator.SAMPLE_AS_OF)
    s3_client(settings).make_bucket(settings.lake_bucket)
    try:
        yield settings
    finally:
        with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
            admin.execute(
                "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                "where slot_name = %s",
                (settings.dms.slot_name,),
            )
            admin.execute(
                sql.SQL("drop database {} with (force)").format(sql.Identifier(settings.app_db))
            )


@pytest.fixture
def source(running_stack: EmbeddedStack) -> Iterator[Settings]:
    """A fresh `app` database seeded at a small scale, with its own slot, raw folders and lake."""
    with fresh_source(running_stack) as settings:
        yield settings


def keep_screenshot(shot: Path, name: str) -> None:
    """Copy a browser test's screenshot into ``$SANDBOX_DOCS_SCREENSHOTS/<name>`` when set:
    the docs' pictures of the report and of Airflow are taken by the tests that check
    them (``SANDBOX_DOCS_SCREENSHOTS=docs/images uv run pytest ...``)."""
    folder = os.environ.get("SANDBOX_DOCS_SCREENSHOTS")
    if folder:
        target = Path(folder) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
