"""The local AWS endpoint: moto's server with the sandbox's extensions and event loop.

Started on demand (``sandbox aws up``), supervised by pid like the other services and
stopped by ``sandbox down``. See :mod:`sandbox.orchestrate.aws`.
"""

from __future__ import annotations

import os
import sys

from sandbox.platform.ports import tcp_answers
from sandbox.platform.services.base import EmbeddedService


class AwsEndpointService(EmbeddedService):
    """The local AWS endpoint (moto's server with the sandbox's extensions)."""

    name = "aws"
    start_timeout_s = 120.0  # importing moto takes seconds on a busy laptop

    def ports(self) -> dict[int, str]:
        return {self.settings.aws_port: "aws (local Step Functions, Lambda, ECS, CloudWatch)"}

    def endpoint(self) -> str:
        return self.settings.aws_endpoint

    def argv(self) -> list[str]:
        s = self.settings
        return [
            sys.executable,
            "-m",
            "sandbox.orchestrate.aws.server",
            "--host",
            s.host,
            "--port",
            str(s.aws_port),
            "--region",
            s.s3_region,
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        return (
            env
            | self.settings.as_env()
            | {
                "SANDBOX_HOME": str(self.settings.runtime_dir),
                "SANDBOX_AWS_CLOCK_SPEED": str(self.settings.aws_clock_speed),
                "SANDBOX_AWS_READY_FILE": str(self.ready_file()),
            }
        )

    def ready_file(self):
        return self.settings.run_dir / "aws.ready"

    def prepare(self) -> None:
        self.ready_file().unlink(missing_ok=True)

    def after_stop(self) -> None:
        self.ready_file().unlink(missing_ok=True)

    def is_ready(self) -> bool:
        """Ready once the server has switched Step Functions to executing definitions."""
        return self.ready_file().exists() and tcp_answers(
            self.settings.host, self.settings.aws_port
        )
