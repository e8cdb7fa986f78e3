"""A Spark Connect session on an in-process Sail server, for transforms on small frames."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator:
    from sandbox.platform.session import in_process_sail

    with in_process_sail() as session:
        yield session


@pytest.fixture(scope="session")
def sample_bronze(spark) -> dict:
    """Bronze-shaped frames built from the committed sample (app tables + events)."""
    from sandbox.course.sample_lake import sample_bronze

    return sample_bronze(spark)
