"""Benchmarks the project keeps: each figure measured several times, median and spread.

``sandbox bench`` runs them against a private home on free ports, so it never touches
the user's running stack or data. One module per group; ``GROUPS`` names them.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.bench.airflow_runs import bench_airflow
from sandbox.bench.aws_runs import bench_aws
from sandbox.bench.cli_start import bench_cli
from sandbox.bench.course import bench_course
from sandbox.bench.demo import bench_demo, bench_inner_loop, bench_scale_256, bench_scaling
from sandbox.bench.dms import bench_dms
from sandbox.bench.engines import bench_engines, bench_reference
from sandbox.bench.figures import Figure, machine, write_results
from sandbox.bench.firehose import bench_firehose
from sandbox.bench.homes import local_run, private_home
from sandbox.bench.install import bench_install
from sandbox.bench.modes import bench_spark_modes
from sandbox.bench.silver import bench_silver
from sandbox.bench.simulator import bench_simulator
from sandbox.bench.stack import bench_stack

GROUPS: dict[str, Callable[..., list[Figure]]] = {
    "install": bench_install,
    "stack": bench_stack,
    "cli": bench_cli,
    "dms": bench_dms,
    "simulator": bench_simulator,
    "firehose": bench_firehose,
    "engines": bench_engines,
    "demo": bench_demo,
    "modes": bench_spark_modes,
    "inner": bench_inner_loop,
    "silver": bench_silver,
    "reference": bench_reference,
    "scaling": bench_scaling,
    "scale256": bench_scale_256,
    "aws": bench_aws,
    "airflow": bench_airflow,
    "course": bench_course,
}

# Run only when named (`--only`): they download gigabytes, run a dozen demos, or need
# most of a 24 GB machine for ten minutes (scale 256).
OPT_IN = {"install", "modes", "scale256"}

__all__ = ["GROUPS", "OPT_IN", "Figure", "local_run", "machine", "private_home", "write_results"]
