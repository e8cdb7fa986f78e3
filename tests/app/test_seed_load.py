"""The seed's bulk load: it skips the foreign keys' per-row checks, so every key is
checked here against Postgres itself, and the secondary indexes exist after it."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest
from pydantic import SecretStr

from sandbox.app import generator, loader
from sandbox.platform.settings import Settings

pytestmark = pytest.mark.slow

FOREIGN_KEYS = """
select c.conrelid::regclass::text, c.confrelid::regclass::text,
       array(select attname from unnest(c.conkey) k
             join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k),
       array(select attname from unnest(c.confkey) k
             join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k)
from pg_constraint c where c.contype = 'f' and c.connamespace = 'public'::regnamespace
"""


def test_every_foreign_key_of_the_seeded_rows_holds(source: Settings) -> None:
    with psycopg.connect(source.postgres_url(source.app_db)) as conn:
        keys = conn.execute(FOREIGN_KEYS).fetchall()
        assert len(keys) == 8  # as declared in schema.sql
        for child, parent, columns, parent_columns in keys:
            on = " and ".join(
                f"p.{p} = c.{c}" for c, p in zip(columns, parent_columns, strict=True)
            )
            present = " and ".join(f"c.{c} is not null" for c in columns)
            (orphans,) = conn.execute(
                f"select count(*) from {child} c where {present} "
                f"and not exists (select 1 from {parent} p where {on})"
            ).fetchone()
            assert orphans == 0, (child, columns, parent)
        (rows,) = conn.execute("select count(*) from match_players").fetchone()
        assert rows > 0
        indexes = {
            r[0]
            for r in conn.execute("select indexname from pg_indexes where schemaname = 'public'")
        }
        assert "match_players_player_id_idx" in indexes
        # The replica role was local to the load's transaction: triggers fire again.
        assert conn.execute("show session_replication_role").fetchone()[0] == "origin"


def test_a_load_that_fails_leaves_no_rows(source: Settings) -> None:
    # One transaction: a table that cannot be loaded leaves the others empty too.
    tables = generator.generate(0.01, 11)
    tables["matches"] = tables["matches"].drop_columns(["map"])  # `map` is not null
    url = source.postgres_url(source.app_db)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema other")
        conn.execute("set search_path = other")
        loader.create_schema(conn, indexes=False)
        with pytest.raises(psycopg.errors.NotNullViolation):
            loader.load(conn, tables, schema="other")
        assert conn.execute("select count(*) from other.players").fetchone() == (0,)


def test_without_superuser_the_load_keeps_the_checks_and_still_loads(source: Settings) -> None:
    # Not the sandbox's own user: `session_replication_role` is refused, and the load
    # goes on with the foreign keys' triggers, which still refuse an orphan.
    role = "seed_plain_user"
    url = source.postgres_url(source.app_db)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"create role {role} login password 'plain'")
        admin.execute(f"create schema plain authorization {role}")
    plain = source.model_copy(
        update={"postgres_user": role, "postgres_password": SecretStr("plain")}
    )
    try:
        tables = generator.generate(0.01, 13)
        orphan = tables["match_players"].slice(0, 1)
        orphan = orphan.set_column(1, "player_id", pa.array([10**9], pa.int64()))
        with psycopg.connect(plain.postgres_url(source.app_db), autocommit=True) as conn:
            conn.execute("set search_path = plain")
            loader.create_schema(conn, indexes=False)
            with_orphan = tables | {
                "match_players": pa.concat_tables([tables["match_players"], orphan])
            }
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                loader.load(conn, with_orphan, schema="plain")
            assert conn.execute("select count(*) from plain.players").fetchone() == (0,)
            loader.load(conn, tables, schema="plain")
            rows = conn.execute("select count(*) from plain.match_players").fetchone()[0]
            assert rows == tables["match_players"].num_rows
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("drop schema plain cascade")
            admin.execute(f"drop role {role}")
