"""Spark Connect: Sail, a Spark Connect server written in Rust, from the ``pysail`` wheel."""

from __future__ import annotations

import os
import sys

from sandbox.platform.ports import tcp_answers
from sandbox.platform.services.base import EmbeddedService
from sandbox.platform.settings import Settings


def sail_object_store_env(settings: Settings) -> dict[str, str]:
    """The variables Sail reads to reach the S3 store: the lake's own options, under the
    names object_store reads from the environment."""
    options = settings.s3_storage_options()
    if "AWS_ENDPOINT_URL" in options:
        options["AWS_ENDPOINT"] = options["AWS_ENDPOINT_URL"]
    return options


def sail_mode_env(settings: Settings) -> dict[str, str]:
    """Sail's runner (``SAIL_MODE``), its workers, and every cluster listener on the
    sandbox's loopback host (Sail's defaults today, pinned so a new default or a user's
    ``SAIL_*`` cannot put a worker on the network)."""
    env: dict[str, str] = {"SAIL_MODE": settings.spark_mode}
    if settings.spark_mode == "local-cluster":
        env["SAIL_CLUSTER__WORKER_INITIAL_COUNT"] = str(settings.spark_workers)
        # no maximum (Sail's 0): a task region needs all its slots at once (the flight
        # shuffle streams between live tasks), so a cap below a plan's region would fail
        # it ("task region requires 16 worker task slots"); Sail adds workers instead
        env["SAIL_CLUSTER__WORKER_MAX_COUNT"] = "0"
        env["SAIL_CLUSTER__WORKER_TASK_SLOTS"] = str(settings.spark_task_slots)
    for role in ("DRIVER", "WORKER"):
        for side in ("LISTEN", "EXTERNAL"):
            env[f"SAIL_CLUSTER__{role}_{side}_HOST"] = settings.host
    return env


class SailService(EmbeddedService):
    """Sail's Spark Connect server, the embedded profile's Spark."""

    name = "spark"
    start_timeout_s = 30.0

    def ports(self) -> dict[int, str]:
        return {self.settings.spark_port: "spark (Sail Spark Connect)"}

    def argv(self) -> list[str]:
        s = self.settings
        return [
            sys.executable,
            "-m",
            "pysail",
            "spark",
            "server",
            "--ip",
            s.host,
            "--port",
            str(s.spark_port),
        ]

    def endpoint(self) -> str:
        return self.settings.spark_remote

    def detail(self, environ: dict[str, str]) -> str | None:
        """The runner of the running server, read from its environment (a changed
        ``SANDBOX_SPARK_MODE`` takes effect at the next start, not before)."""
        if environ.get("SAIL_MODE", "local") != "local-cluster":
            return "local"
        workers = environ.get("SAIL_CLUSTER__WORKER_INITIAL_COUNT", "?")
        slots = environ.get("SAIL_CLUSTER__WORKER_TASK_SLOTS", "?")
        return f"local-cluster: {workers} workers x {slots} task slots"

    def changed(self, environ: dict[str, str]) -> str | None:
        wanted = sail_mode_env(self.settings)
        if not environ or all(environ.get(k) == v for k, v in wanted.items()):
            return None  # (an unreadable environment: leave the server alone)
        return f"SANDBOX_SPARK_MODE and its workers now say {self.detail(wanted)}"

    def env(self) -> dict[str, str]:
        # AWS_* of the caller stay only when the lake signs with AWS's credential chain
        chain = self.settings.s3_keys() is None
        drop = ("SAIL_",) if chain else ("AWS_", "SAIL_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        return env | sail_object_store_env(self.settings) | sail_mode_env(self.settings)

    def is_ready(self) -> bool:
        return tcp_answers(*self.settings.spark_address)
