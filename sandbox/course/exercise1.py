"""Exercise 1: productize a PySpark prototype into a job of the platform.

The student's folder must hold a job module (a public function taking silver tables
as DataFrames, named after them, and returning one), its unit tests, the wiring as a
pipeline task (or a state machine) and a CI workflow that runs the tests. The
function must give the prototype's result on the committed sample.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sandbox.course.checks import COURSE_DIR, Check, CourseError, workflows

REFERENCE = COURSE_DIR / "exercise-1" / "solution" / "retention.py"
REFERENCE_FUNCTION = "retention_by_cohort"
# Calls that do I/O or build a session: they belong at the edge, not in the transform.
_IO_CALLS = {
    "read",
    "readStream",
    "write",
    "writeStream",
    "save",
    "saveAsTable",
    "load",
    "insertInto",
    "parquet",
    "csv",
    "table",
    "sql",
    "getOrCreate",
    "create",
    "toPandas",
    "open",
    "load_settings",
    "getenv",
    "spark_session",
}
_PATH = re.compile(
    r"^(s3a?|s3n|file|hdfs|abfss?|gs)://|^/(tmp|home|data|mnt|work)/|\.(parquet|csv|json)$"
)
_PYTEST_TIMEOUT_S = 600


@dataclass
class Transform:
    module: ModuleType
    path: Path
    name: str
    function: Callable[..., Any]


def job_modules(root: Path) -> list[Path]:
    """The Python files of the work that are not tests."""
    return sorted(
        p for p in root.glob("*.py") if not p.name.startswith("test_") and p.name != "conftest.py"
    )


def load_module(path: Path) -> ModuleType:
    """Import a work file under a name of its own; any failure is a CourseError naming it."""
    _refuse_io_at_import(path)
    name = f"course_work_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"{path.name} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # its siblings import as in its tests
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the student's code: report any failure to import
        raise CourseError(f"{path.name} does not import: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.parent))
    return module


def _refuse_io_at_import(path: Path) -> None:
    """A module that reads, writes or opens a session when imported cannot be graded.

    (A Spark Connect client retries an absent server for minutes: importing such a
    module would hang the checker instead of telling the student.)
    """
    try:
        tree = ast.parse(path.read_text(), filename=path.name)
    except SyntaxError as exc:
        raise CourseError(f"{path.name}:{exc.lineno} is not valid Python: {exc.msg}") from exc
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and _called_name(node) in _IO_CALLS:
                raise CourseError(
                    f"{path.name}:{node.lineno} calls {_called_name(node)}() at import: "
                    "move reads, writes and the session into the task function"
                )


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _is_dataframe(annotation) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return str(text).split(".")[-1] == "DataFrame"


def find_transform(root: Path) -> Transform:
    """The first public function of a job module typed DataFrame(s) -> DataFrame."""
    modules = job_modules(root)
    if not modules:
        notebooks = ", ".join(p.name for p in root.glob("*.ipynb")) or "no Python file"
        raise CourseError(
            f"no job module in {root} (found {notebooks}): move the notebook's "
            "transformation into a .py module with a function that takes the "
            "silver DataFrames and returns a DataFrame"
        )
    for path in modules:
        module = load_module(path)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            sig = inspect.signature(fn)
            params = list(sig.parameters.values())
            if (
                params
                and all(_is_dataframe(p.annotation) for p in params if p.default is p.empty)
                and _is_dataframe(sig.return_annotation)
            ):
                return Transform(module, path, name, fn)
    names = ", ".join(p.name for p in modules)
    raise CourseError(
        f"no function typed DataFrame in, DataFrame out in {names}: annotate "
        "the transform, e.g. `def f(dim_player: DataFrame, ...) -> DataFrame`"
    )


def check_job_module(root: Path) -> Check:
    try:
        t = find_transform(root)
    except CourseError as exc:
        return Check("job module", False, str(exc))
    return Check("job module", True, f"{t.path.name}: {t.name}(DataFrame...) -> DataFrame")


def check_transform_is_pure(root: Path) -> Check:
    name = "no I/O, no hard-coded paths"
    try:
        t = find_transform(root)
    except CourseError:
        return Check(name, False, "needs a job module first")
    tree = ast.parse(t.path.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _PATH.search(node.value)
        ):
            return Check(
                name,
                False,
                f"{t.path.name}:{node.lineno} hard-codes the path "
                f"{node.value!r}: take paths from sandbox.jobs.layers (silver_path, "
                "gold_path) and the settings, at the edge",
            )
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == t.name)
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            called = _called_name(node)
            if called in _IO_CALLS:
                return Check(
                    name,
                    False,
                    f"{t.path.name}:{node.lineno}: {t.name} calls "
                    f"{called}(): the transform takes DataFrames and returns one; "
                    "read and write in the task that calls it",
                )
    return Check(name, True, f"{t.name} only transforms; paths come from the platform")


def check_same_result_as_prototype(root: Path) -> Check:
    """Run the student's transform and the reference on the committed sample, compare."""
    name = "same result as the prototype"
    try:
        t = find_transform(root)
        reference = getattr(load_module(REFERENCE), REFERENCE_FUNCTION)
    except CourseError:
        return Check(name, False, "needs a job module first")
    from sandbox.course.sample_lake import sample_silver
    from sandbox.platform import in_process_sail

    with in_process_sail(quiet=True) as spark:
        silver = sample_silver(spark)
        params = [
            p for p in inspect.signature(t.function).parameters.values() if p.default is p.empty
        ]
        unknown = [p.name for p in params if p.name not in silver]
        if unknown:
            return Check(
                name,
                False,
                f"{t.name} takes {unknown}, which are not silver tables: "
                f"name each parameter after the table it takes ({', '.join(silver)})",
            )
        try:
            got = t.function(*[silver[p.name] for p in params])
            got_rows = result_rows(got)
        except Exception as exc:  # the student's code: report what Spark said
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            return Check(
                name, False, f"{t.name} fails on the sample: {type(exc).__name__}: {first}"
            )
        want = reference(*[silver[p] for p in inspect.signature(reference).parameters])
        want_rows = result_rows(want)
        if sorted(got.columns) != sorted(want.columns):
            return Check(
                name,
                False,
                f"{t.name} returns columns {got.columns}; the prototype returns {want.columns}",
            )
    missing = [r for r in want_rows if r not in got_rows]
    extra = [r for r in got_rows if r not in want_rows]
    if missing or extra:
        example = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        return Check(
            name,
            False,
            f"{t.name} differs from the prototype on the sample: "
            f"{len(missing)} rows missing, {len(extra)} extra ({example})",
        )
    return Check(name, True, f"{len(want_rows)} rows, as the prototype computes them")


def result_rows(df) -> list[str]:
    """A DataFrame's rows as sorted JSON strings, comparable across runs and engines."""
    from sandbox.jobs import jsonable

    return sorted(
        json.dumps({k: jsonable(v) for k, v in r.asDict().items()}, sort_keys=True)
        for r in df.collect()
    )


def check_unit_tests(root: Path) -> Check:
    name = "unit tests"
    tests = sorted(root.glob("test_*.py"))
    if not tests:
        return Check(
            name,
            False,
            f"no test_*.py in {root}: test the transform on a few inline "
            "rows per case, each with a comment saying why the expected row is right",
        )
    try:
        transform = find_transform(root).name
    except CourseError:
        transform = None
    if transform and not any(transform in p.read_text() for p in tests):
        return Check(name, False, f"no test calls {transform}: call it on small DataFrames")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, tests)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=_PYTEST_TIMEOUT_S,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else proc.stderr.strip()[-300:]
    if proc.returncode != 0:
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))][:3]
        return Check(name, False, f"the unit tests fail ({summary}): {'; '.join(failed)}")
    return Check(name, True, summary)


def check_wired_as_task(root: Path) -> Check:
    """A pipeline Task in a job module, or a state machine with a Task state running the job."""
    from sandbox.orchestrate import Task, task_names

    name = "wired as a pipeline task"
    try:
        t = find_transform(root)
    except CourseError:
        t = None
    for path in job_modules(root):
        try:
            module = load_module(path)
        except CourseError as exc:
            return Check(name, False, str(exc))
        for obj in vars(module).values():
            if isinstance(obj, Task):
                unknown = [u for u in obj.upstream if u not in task_names()]
                if unknown:
                    return Check(
                        name,
                        False,
                        f"task {obj.name!r} depends on {unknown}; "
                        f"upstream tasks are among {task_names()}",
                    )
                if not obj.upstream:
                    return Check(
                        name,
                        False,
                        f"task {obj.name!r} has no upstream: it reads "
                        "silver, so it runs after the 'silver' task",
                    )
                return Check(name, True, f"task {obj.name!r} after {list(obj.upstream)}")
    for path in sorted(root.rglob("*.asl.json")):
        problem = _asl_problem(path, t.name if t else None, t.path.stem if t else None)
        if problem is None:
            return Check(name, True, f"state machine {path.name} runs the job")
        return Check(name, False, problem)
    return Check(
        name,
        False,
        'the job is not wired: add `TASK = Task("<name>", ("silver",), '
        'run, "...")` (sandbox.orchestrate.pipeline.Task) to your module, with a run '
        "function that reads silver, calls the transform and writes gold; or a "
        "state machine <name>.asl.json with a Task state that runs it",
    )


def _asl_problem(path: Path, function: str | None, module: str | None) -> str | None:
    try:
        asl = json.loads(path.read_text())
        states = asl["States"]
        start = asl["StartAt"]
    except (ValueError, KeyError) as exc:
        return f"{path.name} is not a state machine (JSON with StartAt and States): {exc}"
    if start not in states:
        return f"{path.name}: StartAt {start!r} is not a state"
    for state_name, state in states.items():
        if state.get("Next") and state["Next"] not in states:
            return (
                f"{path.name}: state {state_name!r} goes to {state['Next']!r}, which is not a state"
            )
    tasks = [s for s in states.values() if s.get("Type") == "Task"]
    if not any(n and n in json.dumps(s) for s in tasks for n in (function, module)):
        return f"{path.name}: no Task state names the job ({function or 'the transform'})"
    return None


def check_ci_runs_tests(root: Path) -> Check:
    name = "CI runs the tests"
    try:
        flows = workflows(root)
    except CourseError as exc:
        return Check(name, False, str(exc))
    for flow in flows:
        if not ({"pull_request", "push"} & set(flow.triggers)):
            continue
        if any("pytest" in job.text for job in flow.jobs):
            return Check(name, True, f"{flow.path.name} runs pytest on {sorted(flow.triggers)}")
    return Check(
        name,
        False,
        f"no workflow in {root}/.github/workflows runs pytest on "
        "pull_request or push: add one with a step `uv run pytest <your tests>`",
    )


CHECKS = [
    check_job_module,
    check_transform_is_pure,
    check_same_result_as_prototype,
    check_unit_tests,
    check_wired_as_task,
    check_ci_runs_tests,
]
