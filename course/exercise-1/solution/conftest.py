"""A Spark Connect session on an in-process Sail server, for the transform's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from sandbox.platform.session import in_process_sail

    with in_process_sail(quiet=True) as session:
        yield session
