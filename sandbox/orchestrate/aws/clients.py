"""The one way the sandbox builds a boto3 client of the local AWS endpoint.

The endpoint takes any credentials; these fixed ones keep a user's own AWS profile
(and its real credentials) out of every call made to it.
"""

from __future__ import annotations

from typing import Any

import boto3

from sandbox.platform import Settings

LOCAL_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}


def endpoint_client(service: str, *, endpoint_url: str, region: str) -> Any:
    """A boto3 client of ``service`` at ``endpoint_url``, with the local credentials."""
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region, **LOCAL_CREDENTIALS)


def aws_client(settings: Settings, service: str) -> Any:
    """A boto3 client of the stack's local AWS endpoint."""
    return endpoint_client(service, endpoint_url=settings.aws_endpoint, region=settings.s3_region)
