"""The stack group: cold ``sandbox up``, ``down`` and idle memory."""

from __future__ import annotations

import time

from sandbox.bench.figures import Figure
from sandbox.bench.homes import cli_env, private_home, stack_memory_mb, timed_cli
from sandbox.platform import EmbeddedStack, Progress


def bench_stack(
    *, repeat: int = 3, idle_s: float = 5.0, progress: Progress = print
) -> list[Figure]:
    """Cold ``sandbox up`` (fresh home), ``down``, and idle memory of the whole stack."""
    up_s, down_s, idle_mb = [], [], []
    for i in range(repeat):
        with private_home() as s:
            env = cli_env(s)
            up_s.append(timed_cli(["up"], env))
            time.sleep(idle_s)
            idle_mb.append(stack_memory_mb(EmbeddedStack(s)))
            down_s.append(timed_cli(["down"], env))
            progress(
                f"run {i + 1}/{repeat}: up {up_s[-1]:.1f}s, idle {idle_mb[-1]:.0f} MB, "
                f"down {down_s[-1]:.1f}s"
            )
    return [
        Figure("stack cold up", "s", up_s, "< 10 s"),
        Figure("stack down", "s", down_s, "< 15 s"),
        Figure("stack idle memory", "MB", idle_mb, "< 600 MB"),
    ]
