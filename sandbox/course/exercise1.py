"""Exercise 1: productize a PySpark prototype into a job of the platform.

The student's folder must hold a job module (a public function taking silver tables as
DataFrames, named after them, and returning one), its unit tests, the wiring as a
pipeline task (or a state machine) and a CI workflow that runs the tests.

This module finds the work (modules anywhere in the folder, the transform among their
functions) and grades what can be read: purity and the wiring's shape. What the work
does is graded by running it, in :mod:`sandbox.course.exercise1_run`: the transform
against the prototype on the sample and on generated edge cases, the student's tests
against planted mistakes, the task on the sample.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sandbox.course.catalogue import t
from sandbox.course.checks import Check, CourseError

# The tables the prototype reads: the transform takes them, named after them.
TABLES = ("dim_player", "fct_match_player", "fct_match")
# Calls that do I/O or build a session: they belong at the edge, not in the transform.
IO_CALLS = {
    "read",
    "readStream",
    "write",
    "writeStream",
    "writeTo",
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
    "read_delta",
}
_PATH = re.compile(
    r"^(s3a?|s3n|file|hdfs|abfss?|gs)://|^/(tmp|home|data|mnt|work)/|\.(parquet|csv|json)$"
)
_SKIP_DIRS = {"venv", "__pycache__", "node_modules", "build", "dist", "site-packages"}
_NAMES = re.compile(r"retention|retencao|retenção|cohort|coorte", re.IGNORECASE)


@dataclass
class Transform:
    module: ModuleType
    path: Path
    name: str
    function: Callable[..., Any]

    def parameters(self) -> list[str]:
        sig = inspect.signature(self.function)
        return [p.name for p in sig.parameters.values() if p.default is p.empty]


def python_files(root: Path) -> list[Path]:
    """The work's Python files, in any folder but hidden and environment ones."""
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts[:-1]
        if any(p.startswith(".") or p in _SKIP_DIRS for p in parts):
            continue
        out.append(path)
    return out


def is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name.endswith("_test.py")


def test_files(root: Path) -> list[Path]:
    return [p for p in python_files(root) if is_test_file(p)]


def is_dag_file(path: Path) -> bool:
    """An Airflow DAG file: graded by Airflow (``productize_dag``), never imported here."""
    text = path.read_text(errors="replace")
    return bool(re.search(r"^\s*(from|import)\s+airflow", text, re.M)) and bool(
        re.search(r"\bDAG\(|@dag\b", text)
    )


def job_modules(root: Path, *, dags: bool = False) -> list[Path]:
    """The Python files of the work that are not tests, conftest, in a tests folder or
    (unless ``dags``) Airflow DAG files."""
    return [
        p
        for p in python_files(root)
        if not is_test_file(p)
        and p.name != "conftest.py"
        and not ({"tests", "test"} & set(p.relative_to(root).parts[:-1]))
        and (dags or not is_dag_file(p))
    ]


# Imported work files, by path, content version and root: one grading's checks import
# each file once (a student module's top level runs once, as in their tests).
_LOADED: dict[tuple[str, int, int, str], ModuleType | CourseError] = {}


def load_module(path: Path, root: Path | None = None) -> ModuleType:
    """Import a work file under a name of its own; any failure is a CourseError naming it."""
    info = path.stat()
    key = (str(path.resolve()), info.st_mtime_ns, info.st_size, str(root))
    if key not in _LOADED:
        try:
            _LOADED[key] = _import(path, root)
        except CourseError as exc:
            _LOADED[key] = exc
    found = _LOADED[key]
    if isinstance(found, CourseError):
        raise found
    return found


def pipeline_tasks(root: Path, *, strict: bool = False) -> list[Any]:
    """The pipeline ``Task`` objects the work's modules define, in file order. A module
    that does not import is skipped, or (``strict``) its CourseError raised."""
    from sandbox.orchestrate import Task

    tasks = []
    for path in job_modules(root):
        try:
            module = load_module(path, root)
        except CourseError:
            if strict:
                raise
            continue
        tasks += [obj for obj in vars(module).values() if isinstance(obj, Task)]
    return tasks


def _import(path: Path, root: Path | None) -> ModuleType:
    refuse_io_at_import(path)
    name = f"course_work_{abs(hash(str(path)))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CourseError(t("ex1.module.not_importable", file=path.name))
    module = importlib.util.module_from_spec(spec)
    # its siblings and the work's root import as they do in its tests
    added = [str(p) for p in dict.fromkeys([path.parent, root or path.parent])]
    sys.path[:0] = added
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the student's code: report any failure to import
        raise CourseError(
            t("ex1.module.import_fails", file=path.name, error=f"{type(exc).__name__}: {exc}")
        ) from exc
    finally:
        for entry in added:
            sys.path.remove(entry)
    return module


def refuse_io_at_import(path: Path) -> None:
    """A module that reads, writes or opens a session when imported cannot be graded.

    (A Spark Connect client retries an absent server for minutes: importing such a
    module would hang the checker instead of telling the student.)
    """
    tree = parse(path)
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and called_name(node) in IO_CALLS:
                raise CourseError(
                    t(
                        "ex1.module.io_at_import",
                        file=path.name,
                        line=node.lineno,
                        call=called_name(node),
                    )
                )


def parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(), filename=path.name)
    except SyntaxError as exc:
        raise CourseError(
            t("ex1.module.syntax", file=path.name, line=exc.lineno, error=exc.msg)
        ) from exc


def called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _is_dataframe(annotation) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return str(text).split(".")[-1].strip("'\"") == "DataFrame"


def _candidates(module: ModuleType, path: Path) -> list[Transform]:
    found = []
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != module.__name__:
            continue
        sig = inspect.signature(fn)
        required = [p for p in sig.parameters.values() if p.default is p.empty]
        if (
            required
            and all(_is_dataframe(p.annotation) for p in required)
            and _is_dataframe(sig.return_annotation)
        ):
            found.append(Transform(module, path, name, fn))
    return found


def _rank(candidate: Transform, callers: dict[str, set[str]]) -> tuple:
    """Prefer the function that takes the prototype's tables, that no other candidate
    calls (a helper is called by the transform), and whose name says what it computes."""
    params = candidate.parameters()
    return (
        sum(p in TABLES for p in params),
        all(p in TABLES for p in params),
        not callers.get(candidate.name),
        bool(_NAMES.search(candidate.name)),
    )


def find_transform(root: Path) -> Transform:
    """The transform: among the public DataFrame(s) -> DataFrame functions, the best ranked."""
    modules = job_modules(root)
    if not modules:
        notebooks = ", ".join(p.name for p in root.glob("*.ipynb")) or t("ex1.module.no_python")
        raise CourseError(t("ex1.module.none", root=root, found=notebooks))
    candidates: list[Transform] = []
    callers: dict[str, set[str]] = {}
    for path in modules:
        module = load_module(path, root)
        found = _candidates(module, path)
        candidates += found
        names = {c.name for c in found}
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and called_name(call) in names - {node.name}:
                        callers.setdefault(called_name(call), set()).add(node.name)
    if not candidates:
        raise CourseError(t("ex1.module.untyped", files=", ".join(p.name for p in modules)))
    return max(candidates, key=lambda c: _rank(c, callers))


def check_job_module(root: Path) -> Check:
    try:
        found = find_transform(root)
    except CourseError as exc:
        return Check("job module", False, str(exc))
    return Check("job module", True, t("ex1.module.ok", file=found.path.name, name=found.name))


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            ids.add(id(first.value))
    return ids


def _reached(tree: ast.Module, name: str) -> list[ast.FunctionDef]:
    """The function ``name`` and the module's functions it calls, transitively."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    seen, todo = [], [name]
    while todo:
        fn = functions.get(todo.pop())
        if fn is None or fn in seen:
            continue
        seen.append(fn)
        todo += [called_name(c) for c in ast.walk(fn) if isinstance(c, ast.Call)]
    return seen


def check_transform_is_pure(root: Path) -> Check:
    name = "no I/O, no hard-coded paths"
    try:
        found = find_transform(root)
    except CourseError:
        return Check(name, False, t("ex1.needs_module"))
    tree = parse(found.path)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docs
            and _PATH.search(node.value)
        ):
            return Check(
                name,
                False,
                t("ex1.pure.path", file=found.path.name, line=node.lineno, path=repr(node.value)),
            )
    for fn in _reached(tree, found.name):
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and called_name(node) in IO_CALLS:
                return Check(
                    name,
                    False,
                    t(
                        "ex1.pure.io",
                        file=found.path.name,
                        line=node.lineno,
                        name=fn.name,
                        call=called_name(node),
                    ),
                )
    return Check(name, True, t("ex1.pure.ok", name=found.name))
