"""Two homes on one machine: a command never writes into another home's stack (#30).

The second home here has the first one's ports, as two checkouts with default settings
would: its `up` is refused by the port check (tests/platform/test_stack.py), and its
`seed`, `ingest` and `run` reach the first home's servers, which say whose they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.platform.identity import ForeignStackError, server_home, verify_home
from sandbox.platform.stack import EmbeddedStack

pytestmark = pytest.mark.slow


def test_a_second_home_on_the_same_ports_is_refused_in_one_line(
    running_stack: EmbeddedStack, tmp_path: Path
) -> None:
    ours = running_stack.settings
    assert server_home(ours) == str(ours.runtime_dir.resolve())
    verify_home(ours)  # our own stack: nothing to say
    other = ours.model_copy(update={"home": tmp_path / "other-home"})
    with pytest.raises(ForeignStackError) as caught:
        verify_home(other)
    message = str(caught.value)
    assert str(ours.runtime_dir.resolve()) in message and str(other.runtime_dir) in message
    for command in (["seed", "--scale", "0.01"], ["ingest", "dms"], ["run", "bronze"]):
        result = CliRunner().invoke(app, command, env=other.as_env())
        out = " ".join(result.output.split())
        assert result.exit_code == 1, (command, out)
        assert "belongs to the sandbox home" in out, (command, out)
