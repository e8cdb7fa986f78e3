"""Shared fixtures: an isolated sandbox home with its own free ports per test module."""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sandbox.app import generator
from sandbox.services.s3 import GRPC_OFFSET, s3_client
from sandbox.settings import Settings
from sandbox.stack import EmbeddedStack


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(count: int) -> list[int]:
    """``count`` ports that are free, and free again at +10000 (SeaweedFS gRPC)."""
    rng = random.Random()
    while True:
        base = rng.randrange(20000, 50000 - count)
        ports = list(range(base, base + count))
        if all(_free(p) and _free(p + GRPC_OFFSET) for p in ports):
            return ports


def isolated_settings(home: Path, **overrides) -> Settings:
    """Settings for a private sandbox home on ports nobody else uses."""
    pg, s3, master, volume, filer, spark = free_port_block(6)
    values = dict(
        home=home,
        postgres_port=pg,
        s3_port=s3,
        seaweed_master_port=master,
        seaweed_volume_port=volume,
        seaweed_filer_port=filer,
        spark_port=spark,
    )
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


@pytest.fixture
def source(running_stack: EmbeddedStack) -> Iterator[Settings]:
    """A fresh `app` database seeded at a small scale, with its own slot, raw folders and lake."""
    tag = uuid.uuid4().hex[:8]
    base = running_stack.settings
    settings = base.model_copy(
        update={
            "app_db": f"app_{tag}",
            "lake_bucket": f"lake-{tag}",
            "firehose": base.firehose.model_copy(
                update={"prefix": f"events-{tag}", "error_prefix": f"events-errors-{tag}"}
            ),
            "dms": base.dms.model_copy(
                update=dict.fromkeys(["slot_name", "publication", "bucket_folder"], f"dms_{tag}")
            ),
        }
    )
    with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(settings.app_db)))
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        generator.seed(conn, scale=0.02, seed=3)
    s3_client(settings).make_bucket(settings.lake_bucket)
    yield settings
    with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
            "where slot_name = %s",
            (settings.dms.slot_name,),
        )
        admin.execute(
            sql.SQL("drop database {} with (force)").format(sql.Identifier(settings.app_db))
        )
