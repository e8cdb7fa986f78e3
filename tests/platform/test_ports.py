"""Ports handed to throw-away homes stay out of the kernels' ephemeral ranges."""

from __future__ import annotations

import random

from sandbox.platform.ports import EPHEMERAL_START, GRPC_OFFSET, HOME_PORTS, free_port_block


def test_a_home_block_and_its_grpc_ports_are_below_the_ephemeral_range() -> None:
    rng = random.Random(7)
    for _ in range(50):
        ports = free_port_block(len(HOME_PORTS), rng=rng)
        assert ports == list(range(ports[0], ports[0] + len(HOME_PORTS)))
        assert min(ports) >= 10000
        assert max(ports) + GRPC_OFFSET < EPHEMERAL_START, ports
