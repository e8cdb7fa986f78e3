"""The cli group: how long `sandbox --help` and `sandbox status` take, as a user runs them."""

from __future__ import annotations

from sandbox.bench.figures import Figure
from sandbox.bench.homes import cli_env, private_home, timed_cli
from sandbox.platform import Progress


def bench_cli(*, repeat: int = 5, progress: Progress = print) -> list[Figure]:
    """``--help``, then ``status`` with the stack stopped and with it running (a private
    home). Each is a fresh ``python -m sandbox`` process, interpreter start included."""
    with private_home() as s:
        env = cli_env(s)
        timed_cli(["--help"], env)  # the first run compiles bytecode: not a user's figure
        help_s = [timed_cli(["--help"], env) for _ in range(repeat)]
        stopped_s = [timed_cli(["status"], env) for _ in range(repeat)]
        progress(f"--help {min(help_s):.2f}s, status (stopped) {min(stopped_s):.2f}s")
        timed_cli(["up"], env)
        running_s = [timed_cli(["status"], env) for _ in range(repeat)]
        progress(f"status (running) {min(running_s):.2f}s")
        timed_cli(["down"], env)
    return [
        Figure("sandbox --help", "s", help_s, "<= 0.3 s"),
        Figure("sandbox status, stack stopped", "s", stopped_s, ""),
        Figure("sandbox status, stack running", "s", running_s, "<= 0.6 s"),
    ]
