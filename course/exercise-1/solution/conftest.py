"""A Spark Connect session on an in-process Sail server, for the transform's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from sandbox.course.samples import sail_session

    with sail_session() as session:
        yield session
