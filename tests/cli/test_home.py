"""A relative SANDBOX_HOME and .env resolve against the project root, from any folder."""

from __future__ import annotations

import json
import subprocess
import sys

from sandbox.platform.settings import PROJECT_ROOT, Settings

from .conftest import Sandbox


def test_relative_home_is_the_same_from_a_subfolder(sandbox: Sandbox) -> None:
    env = {"SANDBOX_HOME": ".sandbox-home-test"}  # relative, never created by `status`
    seen = set()
    for cwd in (PROJECT_ROOT, PROJECT_ROOT / "notebooks"):
        ran = sandbox("status", "--json", env=env, cwd=cwd)
        assert ran.code == 0, ran.err
        seen.add(json.loads(ran.out)["home"])
    assert seen == {str(PROJECT_ROOT / ".sandbox-home-test")}
    assert not (PROJECT_ROOT / ".sandbox-home-test").exists()


def test_a_notebook_kernel_in_notebooks_sees_the_project_home() -> None:
    # What a kernel started by VS Code or `jupyter nbconvert` does: cwd is notebooks/.
    code = "from sandbox.platform.settings import load_settings; print(load_settings().runtime_dir)"
    env = {"PATH": "/usr/bin:/bin", "SANDBOX_HOME": ".sandbox"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT / "notebooks",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(PROJECT_ROOT / ".sandbox")


def test_env_file_is_the_project_one() -> None:
    assert Settings.model_config["env_file"] == PROJECT_ROOT / ".env"
