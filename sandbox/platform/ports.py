"""Port checks, written once: is a port free, does a server answer, a block of free ports."""

from __future__ import annotations

import random
import socket

# SeaweedFS opens a gRPC port at each of its HTTP ports + 10000.
GRPC_OFFSET = 10000


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on ``host:port`` (a bind test, like the server will do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def tcp_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` is accepted within ``timeout``."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


# Outgoing connections take their source ports from here up (Linux's default range).
EPHEMERAL_START = 32768


def free_port_block(
    count: int, *, host: str = "127.0.0.1", rng: random.Random | None = None
) -> list[int]:
    """``count`` consecutive ports free on ``host``, and free again at +10000 (SeaweedFS gRPC).

    The block starts at a random base so that concurrent callers (test workers, a
    benchmark beside a test run) rarely race for the same ports. Every port, +10000
    included, stays below 32768, where the kernels' ephemeral ranges begin (Linux
    32768-60999, macOS 49152-65535): a port picked there can be taken by any outgoing
    connection between the check and the server's bind (a SeaweedFS master lost its
    port that way in a test run).
    """
    rng = rng or random.Random()
    while True:
        base = rng.randrange(10000, EPHEMERAL_START - GRPC_OFFSET - count)
        ports = list(range(base, base + count))
        if all(port_is_free(host, p) and port_is_free(host, p + GRPC_OFFSET) for p in ports):
            return ports


# Every port of an embedded home, in the order free_port_block hands them out.
HOME_PORTS = (
    "postgres_port",
    "s3_port",
    "seaweed_master_port",
    "seaweed_volume_port",
    "seaweed_filer_port",
    "spark_port",
    "aws_port",
    "airflow_port",
)


def free_home_ports() -> dict[str, int]:
    """A free port for each of HOME_PORTS (settings for a throw-away home: tests, benchmarks)."""
    return dict(zip(HOME_PORTS, free_port_block(len(HOME_PORTS)), strict=True))
