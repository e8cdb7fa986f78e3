"""The walkthrough notebooks: stripped in git, run top to bottom, served by JupyterLab."""

from __future__ import annotations

import contextlib
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
from nbclient.exceptions import CellExecutionError

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


def _run(path: Path, cwd: Path, fault: tuple[str, str] | None = None) -> nbformat.NotebookNode:
    """Run a notebook top to bottom (``fault``: code put in a cell before the cell of
    that id); returns it with its outputs, stopping at the first error."""
    book = nbformat.read(path, as_version=4)
    if fault is not None:
        before, code = fault
        at = next(i for i, c in enumerate(book.cells) if c.get("id") == before)
        book.cells.insert(at, nbformat.v4.new_code_cell(code))
    client = NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    with contextlib.suppress(CellExecutionError):
        client.execute()
    return book


def _errors(book: nbformat.NotebookNode) -> list[tuple[str | None, str]]:
    """(cell id, error name) of every error output, in cell order."""
    return [
        (c.get("id"), o.ename)
        for c in book.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]


_ran: list[str] = []


@pytest.mark.slow
@pytest.mark.matrix  # 80-130 s for nine chapters; CI runs it after the default run
def test_every_notebook_runs_in_order_and_its_assertions_pass(stack_env, tmp_path: Path) -> None:
    for path in NOTEBOOKS:  # in order: each chapter builds on the previous one
        errors = _errors(_run(path, tmp_path))
        assert not errors, f"{path.name}: {errors}"
        _ran.append(path.name)


# Per notebook, a fault planted before its step (the cell of that id), and the cell
# holding the check that must then fail. Each fault breaks what the chapter teaches,
# the way a real bug would, and the step itself still runs without an error.
_FORCE = """
import functools
import sandbox.orchestrate as _o
_o.run_pipeline = functools.partial(_o.run_pipeline, force=True)  # no skip: the step runs
"""
_MISCOUNT = """
from pyspark.sql import functions as _F
from sandbox.jobs import GOLD_TABLES as _GOLD
_mart = next(t for t in _GOLD if t.name == "matches_per_map_daily")
_build = _mart.build
# an off-by-one in the mart: one match too many per map and day
object.__setattr__(
    _mart, "build", lambda inputs: _build(inputs).withColumn("matches", _F.col("matches") + 1)
)
"""
FAULTS: dict[str, tuple[str, str, str]] = {
    # a service that did not come up
    "00_architecture.ipynb": (
        "5da46234",
        """
import dataclasses
from sandbox.platform import EmbeddedStack
_up = EmbeddedStack.up
def _one_down(self, *args, **kwargs):
    found = _up(self, *args, **kwargs)
    return [*found[:-1], dataclasses.replace(found[-1], state="stopped")]
EmbeddedStack.up = _one_down
""",
        "40e2c9e2",
    ),
    # CDC loses the last change of each batch (what #27 fixed)
    "01_source_and_dms.ipynb": (
        "4fdb169e",
        """
from sandbox.ingest.dms.task import DmsTask
_write = DmsTask._write_cdc
def _lossy(self, conn, batch):
    for column in (batch.ops, batch.times, batch.seqs, batch.rows):
        del column[-1:]
    return _write(self, conn, batch)
DmsTask._write_cdc = _lossy
""",
        "95beb7db",
    ),
    # the publisher drops one event in ten
    "02_events_firehose.ipynb": (
        "b104a430",
        """
import sandbox.ingest.events as _events
_make = _events.publisher
class _Lossy:
    def __init__(self, pub):
        self.pub, self.n = pub, 0
    def publish(self, event):
        # the notebook's own unknown event always goes through: its error is looked at
        self.n += event["event_type"] != "teleport"
        if self.n % 10 or event["event_type"] == "teleport":
            self.pub.publish(event)
    def close(self):
        self.pub.close()
_events.publisher = lambda settings: _Lossy(_make(settings))
""",
        "0af9abbe",
    ),
    # bronze records new changes as applied but never merges them
    "03_bronze.ipynb": (
        "a1132a46",
        """
import psycopg
import sandbox.jobs.bronze as _bronze
_bronze._merge = lambda *args, **kwargs: None
with psycopg.connect(settings.postgres_url(), autocommit=True) as _conn:
    _conn.execute("update players set nickname = nickname || '-x' where player_id = 2")
""",
        "18fcba8e",
    ),
    # the quality rules stop flagging: a bad row reaches silver instead of the quarantine
    "04_silver.ipynb": (
        "e82aad5b",
        _FORCE
        + """
from pyspark.sql import functions as _F
from sandbox.jobs import bronze_path
from sandbox.platform import spark_session
import types
import sandbox.jobs.silver.runner as _runner
# a payment in a status the source never writes (the notebooks' own data has no bad row)
_path = bronze_path(settings, "public", "payments")
_bronze = spark_session(settings).read.format("delta").load(_path)
_id = _bronze.schema["payment_id"].dataType
_bad = _bronze.limit(1).withColumns(
    {"payment_id": _F.lit(-1).cast(_id), "status": _F.lit("stolen")}
)
_bad.write.format("delta").mode("append").save(_path)
# silver's runner applies no rule (the notebook's own check still has them all)
_quality = {k: getattr(_runner.q, k) for k in dir(_runner.q) if not k.startswith("__")}
_apply = _quality["apply_rules"]
_quality["apply_rules"] = lambda table, df, rules, refs=None: _apply(table, df, [], refs)
_runner.q = types.SimpleNamespace(**_quality)
""",
        "6b9e0039",
    ),
    "05_gold.ipynb": ("a9168a86", _FORCE + _MISCOUNT, "acb47196"),
    # the warehouse loads the marts without their grain in the table comment
    "06_warehouse_and_bi.ipynb": (
        "a5647a0f",
        _FORCE
        + """
import sandbox.serve.warehouse as _warehouse
_warehouse.table_comment = lambda table, source=None: f"gold version {source}"
""",
        "011c2aa7",
    ),
    # a rebuild that does not give the same marts
    "07_orchestration.ipynb": ("c2d54350", _MISCOUNT, "2ff59654"),
    # a state machine whose ECS task has no Retry: one failed build, not three
    "08_course_case.ipynb": (
        "45b8842f",
        """
import json
_arn = next(
    m["stateMachineArn"]
    for m in sfn.list_state_machines()["stateMachines"]
    if "dbt_build" in m["name"]
)
_definition = json.loads(sfn.describe_state_machine(stateMachineArn=_arn)["definition"])
for _state in _definition["States"].values():
    _state.pop("Retry", None)
sfn.update_state_machine(stateMachineArn=_arn, definition=json.dumps(_definition))
""",
        "93c0b7b6",
    ),
}


def test_every_notebook_has_a_planted_fault() -> None:
    assert sorted(FAULTS) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        ids = [c.get("id") for c in nbformat.read(path, as_version=4).cells]
        before, _, check = FAULTS[path.name]
        assert before in ids and check in ids and ids.index(before) < ids.index(check), path.name


@pytest.mark.slow
@pytest.mark.matrix  # 100-150 s: every notebook again, each with its fault
def test_each_notebooks_check_fails_when_its_step_is_broken(stack_env, tmp_path: Path) -> None:
    """A check that cannot fail teaches nothing: with its step broken, each notebook
    stops at its check, with an AssertionError, and at no cell before it.

    Last chapter first: a fault's damage (a lost change, a miscounted mart) flows
    downstream only, and the chapters downstream of it have had their turn by then.
    """
    if len(_ran) < len(NOTEBOOKS):  # run alone: the chapters' state comes first
        test_every_notebook_runs_in_order_and_its_assertions_pass(stack_env, tmp_path)
    caught = {}
    for path in reversed(NOTEBOOKS):
        before, code, _ = FAULTS[path.name]
        caught[path.name] = _errors(_run(path, tmp_path, (before, code)))[:1]
    assert caught == {name: [(check, "AssertionError")] for name, (_, _, check) in FAULTS.items()}


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
