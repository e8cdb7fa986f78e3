"""Spark Connect: Sail, a Spark Connect server written in Rust, from the ``pysail`` wheel."""

from __future__ import annotations

import os
import sys

from sandbox.platform.ports import tcp_answers
from sandbox.platform.services.base import EmbeddedService
from sandbox.platform.settings import Settings


def sail_object_store_env(settings: Settings) -> dict[str, str]:
    """The variables Sail reads to reach the S3 server (path-style, plain HTTP)."""
    return {
        "AWS_ACCESS_KEY_ID": settings.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key.get_secret_value(),
        "AWS_ENDPOINT": settings.s3_endpoint,
        "AWS_REGION": settings.s3_region,
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }


class SailService(EmbeddedService):
    """Sail's Spark Connect server, the embedded profile's Spark."""

    name = "spark"
    start_timeout_s = 30.0

    def ports(self) -> dict[int, str]:
        return {self.settings.spark_port: "spark (Sail Spark Connect)"}

    def endpoint(self) -> str:
        return self.settings.spark_remote

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

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return env | sail_object_store_env(self.settings)

    def is_ready(self) -> bool:
        return tcp_answers(self.settings.host, self.settings.spark_port)
