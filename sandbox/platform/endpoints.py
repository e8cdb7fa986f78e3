"""Endpoints the sandbox does not start: a Spark Connect URL, an S3 URL, a warehouse URL.

``SANDBOX_SPARK_URL``, ``SANDBOX_S3_URL`` and ``SANDBOX_WAREHOUSE_URL`` name a shared
Spark Connect server, a team's bucket store (or AWS itself) and a real warehouse. When
one is set, ``sandbox up`` does not start that service and every client uses the URL;
``status`` shows it as external. These functions check the URLs when settings load
(so a typo is one line naming the variable) and take them apart for the clients.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

AWS = "aws"  # SANDBOX_S3_URL=aws: AWS's own regional endpoint and credential chain
# Redshift's endpoints (provisioned clusters and Serverless workgroups, every partition)
# and its default port:
# https://docs.aws.amazon.com/redshift/latest/mgmt/connecting-connection-string.html
REDSHIFT_HOST = re.compile(r"\.redshift(-serverless)?\.amazonaws\.com(\.cn)?$", re.I)
REDSHIFT_PORT = 5439


def spark_address(url: str) -> tuple[str, int]:
    """Host and port of a Spark Connect URL (``sc://host[:port][/;param=value...]``;
    the port defaults to Spark Connect's 15002)."""
    if not url.startswith("sc://"):
        raise ValueError(f"a Spark Connect URL starts with sc:// (got {_shown(url)!r})")
    address = url.removeprefix("sc://").split("/", 1)[0]
    if ";" in address or "@" in address:  # a parameter (a token) where the host goes
        raise ValueError("parameters go after a slash: sc://host:port/;use_ssl=true;token=...")
    parts = urlsplit("http://" + address)
    try:
        port = parts.port or 15002
    except ValueError as exc:  # a port that is not a number
        raise ValueError(f"{_shown(url)!r}: {exc}") from None
    if not parts.hostname:
        raise ValueError(f"{_shown(url)!r} names no host")
    return parts.hostname, port


def _shown(url: str) -> str:
    """A Spark Connect URL without its parameters (a ``token=`` among them)."""
    return re.split(r"[;/]", url.removeprefix("sc://"), maxsplit=1)[0]


def shown_spark_url(url: str) -> str:
    """``url`` for a status line, a ``token=`` parameter's value hidden."""
    return re.sub(r"(?i)(token=)[^;/]*", r"\1…", url)


def check_s3_url(url: str) -> str:
    """``url`` if it is ``aws`` or an http(s) URL with a host and nothing after it."""
    if url == AWS:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http(s)://host[:port] or 'aws' (got {url!r})")
    if parts.username or parts.password:
        raise ValueError("keys go in SANDBOX_S3_ACCESS_KEY and SANDBOX_S3_SECRET_KEY, not the URL")
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError(f"{parts.netloc!r}: the port is not a number") from None
    if parts.path.strip("/") or parts.query:
        raise ValueError(f"{url!r}: the endpoint only; buckets are SANDBOX_RAW_BUCKET/LAKE_BUCKET")
    return url.rstrip("/")


def aws_s3_url(region: str) -> str:
    """AWS's regional S3 endpoint, for clients that need one spelled out."""
    return f"https://s3.{region}.amazonaws.com"


def shown_libpq_url(url: str) -> str:
    """A libpq URL for a status line: the password left out."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_warehouse_url(url: str) -> str:
    """``url`` if it is a libpq URL (postgresql:// or postgres://) with a host and a database."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("expected postgresql://user:password@host:port/database")
    if not parts.hostname or not parts.path.strip("/"):
        raise ValueError("the URL must name a host and a database (postgresql://…@host/db)")
    return url


def is_redshift_host(host: str) -> bool:
    return bool(REDSHIFT_HOST.search(host.rstrip(".")))


def with_engine_port(url: str) -> str:
    """A warehouse URL with Redshift's port spelled out when a Redshift host names none:
    libpq and every client built on it would otherwise take Postgres's 5432."""
    parts = urlsplit(url)
    if parts.port is None and parts.hostname and is_redshift_host(parts.hostname):
        return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{REDSHIFT_PORT}"))
    return url


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere
