"""dbt over the warehouse: the environment and command line every dbt run uses.

The contract (what the justfile recipes, ``dbt/ci/run.sh`` and the local ECS-task
runner rely on):

- The project is ``dbt/`` at the repository root (``DBT_PROJECT``), with its
  ``profiles.yml`` inside. Targets: ``dev`` (the warehouse), ``ci`` (throwaway: a
  clone of the embedded warehouse, ``WAREHOUSE_CI_DB``, or on a real warehouse a schema
  of its own, ``WAREHOUSE_CI_SCHEMA``), ``prod`` (what the ECS task runs: on
  ``dbt-redshift`` unless ``WAREHOUSE_TYPE`` says otherwise, as the sandbox does; see
  :func:`warehouse_type`).
- The profile reads its connection from the environment only: ``WAREHOUSE_HOST``,
  ``WAREHOUSE_PORT``, ``WAREHOUSE_USER``, ``DBT_ENV_SECRET_WAREHOUSE_PASSWORD`` (dbt
  scrubs ``DBT_ENV_SECRET_*`` from its logs), ``WAREHOUSE_DB``, and ``DBT_TARGET``
  (default ``dev``). :func:`dbt_env` builds them from :class:`Settings`.
- ``dev`` writes a schema of its own per developer (``DBT_DEV_SCHEMA``, default
  ``dbt_<login>``, see :func:`dev_schema`), so one developer's half-finished model never
  replaces the ``analytics_*`` relations that ``prod`` (the ECS task) and ``ci`` build
  and that slim CI defers to.
- The ECS task (``DbtTaskDefinition`` in ``aws/template.yaml``, the one definition both
  deploys use) is run locally as a process: its
  ``containerDefinitions[0].command`` (``["dbt", "build", "--target", "prod"]``) is
  executed by :func:`task_command`, with the container's ``environment`` overlaid by
  :func:`dbt_env` (the sandbox's warehouse connection wins). The working directory is
  ``DBT_PROJECT``, as ``WORKDIR`` is in ``dbt/Dockerfile``.
- Nothing leaves the machine: usage statistics and the version check are off.

``python -m sandbox.orchestrate.dbt`` is the same as a command line for
``dbt/ci/run.sh`` (see :func:`main`).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from sandbox.platform import PROJECT_ROOT, SandboxError, Settings, load_settings

DBT_PROJECT = PROJECT_ROOT / "dbt"
TARGETS = ("dev", "ci", "prod")
# The schema `sandbox run warehouse` loads; the dbt sources read it.
SOURCE_SCHEMA = "gold"


class DbtError(SandboxError):
    """dbt could not be set up or run; the message names what was wrong."""


def dev_schema(login: str | None = None) -> str:
    """The ``dev`` target's schema: ``DBT_DEV_SCHEMA`` if set, else ``dbt_<login>``.

    A login becomes a plain lower-case identifier (``Ana.Souza`` -> ``dbt_ana_souza``),
    so it needs no quoting on Postgres or Redshift. A ``DBT_DEV_SCHEMA`` that is not
    such an identifier is an error naming it.
    """
    chosen = os.environ.get("DBT_DEV_SCHEMA", "")
    if chosen:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", chosen):
            raise DbtError(
                f"dbt: DBT_DEV_SCHEMA={chosen!r} is not a lower-case identifier "
                "(letters, digits, _; at most 63)"
            )
        return chosen
    if login is None:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):  # no login name (a container without /etc/passwd)
            login = "dev"
    name = re.sub(r"[^a-z0-9_]+", "_", login.lower()).strip("_") or "dev"
    return f"dbt_{name}"[:63]


# What dbt/ci/run.sh may create and drop on a real warehouse: ci_<run>, never analytics.
CI_SCHEMA = re.compile(r"ci_[a-z0-9_]{1,40}")


def warehouse_type(host: str) -> str:
    """dbt's adapter for the warehouse at ``host``: ``redshift`` for an Amazon Redshift
    endpoint, else ``postgres`` (the embedded warehouse, or any Postgres by URL)."""
    from sandbox.platform.endpoints import is_redshift_host

    return "redshift" if is_redshift_host(host) else "postgres"


def dbt_executable() -> Path:
    """The ``dbt`` of the environment this interpreter runs in (the `dbt` uv group)."""
    exe = Path(sys.executable).parent / ("dbt.exe" if os.name == "nt" else "dbt")
    if not exe.exists():
        raise DbtError(f"dbt: {exe} not found; install the dbt group: `uv sync --group dbt`")
    return exe


def dbt_env(
    settings: Settings,
    *,
    target: str = "dev",
    ci_database: str | None = None,
    ci_schema: str | None = None,
    project_dir: Path = DBT_PROJECT,
) -> dict[str, str]:
    """The variables dbt's profile and flags read, for ``target`` on this sandbox.

    The ``ci`` target needs one throwaway place: ``ci_database``, a clone made on the
    embedded Postgres (:func:`create_ci_database`), or ``ci_schema`` (``ci_<run>``), a
    schema in the warehouse itself, for a real warehouse named by
    ``SANDBOX_WAREHOUSE_URL`` where production's relations are there to defer to.
    """
    if target not in TARGETS:
        raise DbtError(f"dbt: unknown target {target!r}; use one of {', '.join(TARGETS)}")
    if target == "ci" and bool(ci_database) == bool(ci_schema):
        raise DbtError(
            "dbt: the ci target needs one throwaway place: a database clone (ci_database) "
            "or a schema in the warehouse (ci_schema)"
        )
    if ci_schema and not CI_SCHEMA.fullmatch(ci_schema):
        raise DbtError(f"dbt: CI schema {ci_schema!r} must look like ci_<run> (a-z, 0-9, _)")
    from psycopg.conninfo import conninfo_to_dict

    # SANDBOX_WAREHOUSE_URL or the embedded warehouse; a throwaway clone is made on the
    # embedded Postgres (dbt/ci/run.sh), so a ci run on a clone connects there
    embedded = settings.postgres_url(settings.warehouse_db)
    conn = conninfo_to_dict(embedded if ci_database else settings.warehouse_dsn())
    host = str(conn.get("host") or settings.host)
    kind = warehouse_type(host)
    env = {
        "WAREHOUSE_HOST": host,
        "WAREHOUSE_PORT": str(conn.get("port") or 5432),  # warehouse_dsn: Redshift's 5439
        "WAREHOUSE_USER": str(conn.get("user") or ""),
        "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": str(conn.get("password") or ""),
        "WAREHOUSE_DB": str(conn.get("dbname") or settings.warehouse_db),
        "DBT_TARGET": target,
        # prod is Redshift in AWS (profiles.yml); the embedded warehouse is a Postgres
        "WAREHOUSE_TYPE": kind,
        "DBT_PROJECT_DIR": str(project_dir),
        "DBT_PROFILES_DIR": str(project_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        # dbt's own logs go with the project's target, not the caller's directory.
        "DBT_LOG_PATH": str(project_dir / "logs"),
    }
    if conn.get("sslmode"):
        env["WAREHOUSE_SSLMODE"] = str(conn["sslmode"])
    if ci_database:
        env["WAREHOUSE_CI_DB"] = ci_database
    if ci_schema:
        env["WAREHOUSE_CI_SCHEMA"] = ci_schema
    if target == "dev":
        env["DBT_DEV_SCHEMA"] = dev_schema()
    return env


def dbt_command(settings: Settings, *args: str) -> list[str]:
    """The command line running ``dbt <args>`` in the dbt environment.

    Run it with :func:`dbt_env` added to the environment (the target is chosen there,
    or by ``--target`` in ``args``). ``settings`` is the sandbox whose warehouse dbt
    works on; it is passed so every caller goes through the same door.
    """
    del settings  # the connection travels in the environment, never on the command line
    return [str(dbt_executable()), *args]


def run_dbt(
    settings: Settings,
    *args: str,
    target: str = "dev",
    ci_database: str | None = None,
    ci_schema: str | None = None,
    project_dir: Path = DBT_PROJECT,
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Run ``dbt <args>`` against ``target``, streaming its output; returns its exit code."""
    env = {**os.environ, **(extra_env or {})}
    env.update(
        dbt_env(
            settings,
            target=target,
            ci_database=ci_database,
            ci_schema=ci_schema,
            project_dir=project_dir,
        )
    )
    return subprocess.run(dbt_command(settings, *args), env=env, cwd=project_dir).returncode


# -- the ECS task, run as a process -------------------------------------------------


def task_definition() -> dict:
    """The dbt ECS task definition of ``aws/template.yaml``, as a RegisterTaskDefinition
    input (its parameters at their defaults)."""
    from sandbox.orchestrate.aws.errors import DeployError
    from sandbox.orchestrate.aws.template import task_definition as from_template

    try:
        return from_template()
    except DeployError as exc:
        raise DbtError(f"dbt: {exc}") from exc


def task_command(
    settings: Settings, definition: Mapping | None = None, *, project_dir: Path = DBT_PROJECT
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run the task definition's container here.

    The container's ``command`` starts with ``dbt``; it becomes this environment's dbt.
    Its ``environment`` is kept, overlaid by the sandbox's warehouse connection; add the
    returned variables to the caller's environment (PATH and the rest) to run it.
    """
    definition = definition if definition is not None else task_definition()
    try:
        container = definition["containerDefinitions"][0]
        command = list(container["command"])
    except (KeyError, IndexError, TypeError) as exc:
        raise DbtError("dbt: the task definition has no containerDefinitions[0].command") from exc
    if not command or command[0] != "dbt":
        raise DbtError(f"dbt: the task's command must start with 'dbt', not {command[:1]}")
    env = {e["name"]: str(e["value"]) for e in container.get("environment", [])}
    target = env.get("DBT_TARGET", "prod")
    if "--target" in command[:-1]:
        target = command[command.index("--target") + 1]
    env.update(dbt_env(settings, target=target, project_dir=project_dir))
    return dbt_command(settings, *command[1:]), env


# -- the throwaway warehouse of CI ---------------------------------------------------


def create_ci_database(settings: Settings, name: str) -> None:
    """Create ``name`` as a clone of the warehouse (gold sources and all), for CI.

    A template copy is a file-level copy: a second, no matter how large the marts. It
    needs the warehouse to have no open session, so a busy warehouse is named.
    """
    with psycopg.connect(settings.postgres_url("postgres"), autocommit=True) as admin:
        found = admin.execute(
            "select 1 from pg_database where datname = %s", (settings.warehouse_db,)
        ).fetchone()
        if not found:
            raise DbtError(
                f"dbt-ci: no warehouse database {settings.warehouse_db!r}; "
                "run `uv run sandbox demo` first"
            )
        try:
            admin.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(name), sql.Identifier(settings.warehouse_db)
                )
            )
        except psycopg.errors.ObjectInUse as exc:
            raise DbtError(
                f"dbt-ci: cannot clone {settings.warehouse_db!r} while it has open sessions "
                "(Metabase, a notebook?): close them and retry"
            ) from exc
        except psycopg.errors.DuplicateDatabase as exc:
            raise DbtError(f"dbt-ci: database {name!r} already exists; drop it first") from exc
    with psycopg.connect(settings.postgres_url(name)) as conn:
        row = conn.execute(
            "select count(*) from information_schema.tables where table_schema = %s",
            (SOURCE_SCHEMA,),
        ).fetchone()
    if row is None:
        raise RuntimeError("select count(*) from information_schema.tables returned no row")
    (tables,) = row
    if not tables:
        drop_ci_database(settings, name)
        raise DbtError(
            f"dbt-ci: the warehouse has no {SOURCE_SCHEMA} tables to build on; "
            "run `uv run sandbox demo` first"
        )


def drop_ci_database(settings: Settings, name: str) -> None:
    """Drop the throwaway database ``name`` if it exists (sessions are ended)."""
    if name == settings.warehouse_db:
        raise DbtError(f"dbt-ci: refusing to drop the warehouse itself ({name!r})")
    with psycopg.connect(settings.postgres_url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def _ci_schema(name: str) -> str:
    if not CI_SCHEMA.fullmatch(name):
        raise DbtError(f"dbt-ci: CI schema {name!r} must look like ci_<run> (a-z, 0-9, _)")
    return name


def check_ci_schema(settings: Settings, name: str) -> None:
    """Check that CI may build in schema ``name`` of the warehouse: gold is loaded there
    and no earlier run left ``name`` or ``name_*`` behind."""
    with psycopg.connect(settings.warehouse_dsn(), autocommit=True) as conn:
        gold = conn.execute(
            "select count(*) from information_schema.tables where table_schema = %s",
            (SOURCE_SCHEMA,),
        ).fetchone()
        left = _ci_schemas(conn, _ci_schema(name))
    if not gold or not gold[0]:
        raise DbtError(f"dbt-ci: the warehouse has no {SOURCE_SCHEMA} tables to build on")
    if left:
        raise DbtError(f"dbt-ci: schema {left[0]!r} already exists; drop it first")


def drop_ci_schema(settings: Settings, name: str) -> None:
    """Drop schema ``name`` and every ``name_*`` dbt made beside it (``ci_42_marts``)."""
    with psycopg.connect(settings.warehouse_dsn(), autocommit=True) as conn:
        for schema in _ci_schemas(conn, _ci_schema(name)):
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


def _ci_schemas(conn: psycopg.Connection, name: str) -> list[str]:
    rows = conn.execute(
        "select nspname from pg_namespace where nspname = %s or nspname like %s order by 1",
        (name, name.replace("_", "\\_") + "\\_%"),
    ).fetchall()
    return [r[0] for r in rows]


# -- command line for scripts -----------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """run [--target T] [--ci-db NAME | --ci-schema NAME] [--project-dir D] -- <dbt args>
    | ci-db create|drop NAME | ci-schema check|drop NAME | ci-place | env"""
    args = list(sys.argv[1:] if argv is None else argv)
    settings = load_settings()
    try:
        if args[:1] == ["run"]:
            opts, dbt_args = _split(args[1:])
            return run_dbt(
                settings,
                *dbt_args,
                target=opts.get("--target", "dev"),
                ci_database=opts.get("--ci-db"),
                ci_schema=opts.get("--ci-schema"),
                project_dir=Path(opts.get("--project-dir", DBT_PROJECT)),
            )
        if args[:1] == ["ci-db"] and len(args) == 3 and args[1] in ("create", "drop"):
            action = create_ci_database if args[1] == "create" else drop_ci_database
            action(settings, args[2])
            return 0
        if args[:1] == ["ci-schema"] and len(args) == 3 and args[1] in ("check", "drop"):
            (check_ci_schema if args[1] == "check" else drop_ci_schema)(settings, args[2])
            return 0
        if args == ["ci-place"]:
            # where CI's throwaway target goes: a schema in a real warehouse, whose
            # production relations --defer reads, or a clone of the embedded one
            print("schema" if settings.external("warehouse") else "database")
            return 0
        if args == ["env"]:
            for name, value in dbt_env(settings).items():
                print(f"export {name}={shlex.quote(value)}")
            return 0
    except (DbtError, json.JSONDecodeError) as exc:
        print(f"dbt: {exc}" if isinstance(exc, json.JSONDecodeError) else exc, file=sys.stderr)
        return 2
    print(f"usage: python -m sandbox.orchestrate.dbt {main.__doc__}", file=sys.stderr)
    return 2


def _split(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Options before ``--`` (``--name value``), dbt's arguments after it."""
    if "--" in args:
        cut = args.index("--")
        head, tail = args[:cut], args[cut + 1 :]
    else:
        head, tail = [], args
    if len(head) % 2:
        raise DbtError(f"dbt: option {head[-1]!r} needs a value")
    opts = dict(zip(head[::2], head[1::2], strict=True))
    unknown = set(opts) - {"--target", "--ci-db", "--ci-schema", "--project-dir"}
    if unknown:
        raise DbtError(f"dbt: unknown option {sorted(unknown)[0]!r}")
    return opts, tail


if __name__ == "__main__":
    raise SystemExit(main())
