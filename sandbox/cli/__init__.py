"""The ``sandbox`` command line: thin wrappers over the library, with rich output.

One module per command group; importing them registers their commands on ``app``.
"""

from __future__ import annotations

# Importing a group registers its commands; the order here is the order of `--help`.
# isort: off
from sandbox.cli import services  # noqa: F401
from sandbox.cli import data  # noqa: F401
from sandbox.cli import pipeline  # noqa: F401
from sandbox.cli import aws  # noqa: F401
from sandbox.cli import airflow  # noqa: F401
from sandbox.cli import course  # noqa: F401
from sandbox.cli import bench  # noqa: F401

# isort: on
from sandbox.cli.root import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
