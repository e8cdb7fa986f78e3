"""The embedded services: each a real server process supervised by pid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.platform.services.airflow_server import AirflowService
    from sandbox.platform.services.aws_endpoint import AwsEndpointService
    from sandbox.platform.services.base import EmbeddedService
    from sandbox.platform.services.postgres import PostgresService
    from sandbox.platform.services.process import Supervisor
    from sandbox.platform.services.runner import RunnerService
    from sandbox.platform.services.s3 import (
        SeaweedS3Service,
        move_prefix,
        read_parquet_objects,
        remove_prefix,
        s3_client,
    )
    from sandbox.platform.services.spark import SailService

_EXPORTS = {
    "EmbeddedService": "base",
    "PostgresService": "postgres",
    "SeaweedS3Service": "s3",
    "SailService": "spark",
    "AirflowService": "airflow_server",
    "AwsEndpointService": "aws_endpoint",
    "RunnerService": "runner",
    "Supervisor": "process",
    "s3_client": "s3",
    "read_parquet_objects": "s3",
    "remove_prefix": "s3",
    "move_prefix": "s3",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AirflowService",
    "AwsEndpointService",
    "EmbeddedService",
    "PostgresService",
    "RunnerService",
    "SailService",
    "SeaweedS3Service",
    "Supervisor",
    "move_prefix",
    "read_parquet_objects",
    "remove_prefix",
    "s3_client",
]
