from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from sandbox.app import generator
from sandbox.settings import Settings
from sandbox.stack import EmbeddedStack


@pytest.fixture
def source(running_stack: EmbeddedStack) -> Iterator[Settings]:
    """A fresh `app` database seeded at a small scale, with its own slot and raw folder."""
    tag = uuid.uuid4().hex[:8]
    base = running_stack.settings
    settings = base.model_copy(
        update={
            "app_db": f"app_{tag}",
            "dms": base.dms.model_copy(
                update=dict.fromkeys(["slot_name", "publication", "bucket_folder"], f"dms_{tag}")
            ),
        }
    )
    with psycopg.connect(base.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(settings.app_db)))
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        generator.seed(conn, scale=0.02, seed=3)
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
