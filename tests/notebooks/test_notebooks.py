"""The walkthrough notebooks: stripped in git, run top to bottom, served by JupyterLab."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from sandbox.platform.lab import lab_argv
from sandbox.platform.settings import PROJECT_ROOT
from sandbox.platform.stack import EmbeddedStack

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def test_there_is_a_notebook_per_chapter() -> None:
    names = [p.stem.split("_", 1)[1] for p in NOTEBOOKS]
    assert names == [
        "architecture",
        "source_and_dms",
        "events_firehose",
        "bronze",
        "silver",
        "gold",
        "warehouse_and_bi",
        "orchestration",
        "course_case",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stripped_in_git(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} has outputs; clear them before committing"
            )
        # thin notebooks: no pipeline logic defined in a notebook
        assert "def " not in cell.source or cell.cell_type == "markdown", path.name


@pytest.fixture(scope="module")
def stack_env(running_stack: EmbeddedStack):
    env = running_stack.settings.as_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.slow
@pytest.mark.matrix  # 80-130 s for nine chapters; CI runs it after the default run
def test_every_notebook_runs_in_order_and_its_assertions_pass(stack_env, tmp_path: Path) -> None:
    for path in NOTEBOOKS:  # in order: each chapter builds on the previous one
        book = nbformat.read(path, as_version=4)
        client = NotebookClient(
            book,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
        errors = [
            o
            for c in book.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert not errors, f"{path.name}: {errors}"


@pytest.mark.slow
def test_jupyterlab_serves_the_notebooks(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(8)
    argv = [*lab_argv(port, token=token), f"--ServerApp.runtime_dir={tmp_path}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    listing = json.loads(resp.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer in 60 s"
                time.sleep(0.5)
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in NOTEBOOKS} <= names
    finally:
        proc.terminate()
        proc.wait(timeout=20)
