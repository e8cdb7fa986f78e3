"""Two forced rebuilds at once equal one alone (issue #30, item 3: one writer per table).

Each task holds a lock per home (``<home>/runtime/locks``) while it writes, so a second
``sandbox run`` waits for the first task by task instead of interleaving commits, and
silver's recovery never deletes a staging run that is still being written.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.platform.stack import EmbeddedStack
from tests.oracle import lake_snapshot

from .conftest import ENTRY_POINT, Sandbox, private_env

pytestmark = pytest.mark.slow


@pytest.mark.matrix  # about 60 s: a seed, a full run and three forced rebuilds
def test_two_forced_rebuilds_at_once_equal_a_clean_rebuild(
    running_stack: EmbeddedStack, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = running_stack.settings
    env = settings.as_env()
    for step in (["seed", "--scale", "0.05"], ["run", "ingest_dms", "bronze"]):
        done = sandbox(*step, env=env)
        assert done.code == 0, done.err
    base = private_env(tmp_path / "home") | env
    runs = [
        subprocess.Popen(
            [str(ENTRY_POINT), "run", "silver", "gold", "--force"],
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outcomes]
    together = lake_snapshot(settings)
    alone = sandbox("run", "silver", "gold", "--force", env=env)
    assert alone.code == 0, alone.err
    assert lake_snapshot(settings) == together
    empty = sorted(name for name, rows in together.items() if not rows)
    assert empty == ["gold.login_funnel_daily", "silver.player_events"]  # no events were sent
