"""The package's import graph: no cycles, function-level imports included.

Every ``import`` statement of every module under ``sandbox/`` is read from the source
(the ones inside functions too: they run at the first call and close a cycle as surely
as a top-level one). Imports under ``if TYPE_CHECKING:`` never run and are left out.
A package's ``__init__`` re-exporting its own modules is the one allowed direction:
a module never imports its own package's ``__init__``. A name a package exports lazily
(``sandbox.platform.lazy``) counts as an import of the module that defines it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sandbox"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def lazy_exports(package: str) -> dict[str, str]:
    """``{name: module}`` of a package's ``_EXPORTS`` table, read from its source."""
    path = MODULES[package]
    if path.name != "__init__.py":
        return {}
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return {
                k.value: f"{package}.{v.value}"
                for k, v in zip(node.value.keys, node.value.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            }
    return {}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The project modules ``module`` imports (each resolved to a module or package)."""
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(filter(None, (resolve(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                target = resolve(f"{base}.{alias.name}") if base else None
                if target == f"{base}.{alias.name}":
                    found.add(target)  # a submodule
                elif (owner := resolve(base)) is not None:
                    found.add(lazy_exports(owner).get(alias.name, owner))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {
        name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
        for name, path in MODULES.items()
    }
    for name in graph:  # a lazy package reaches what it exports, when it is read
        graph[name] |= {m for m in lazy_exports(name).values() if m in MODULES}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_walk_sees_function_level_imports() -> None:
    tree = ast.parse("def f():\n    from sandbox.jobs import bronze\n")
    assert _imports(tree, "sandbox.x", False) == {"sandbox.jobs.bronze"}
    planted = {"sandbox.a": {"sandbox.b"}, "sandbox.b": {"sandbox.c"}, "sandbox.c": {"sandbox.a"}}
    assert cycles(planted) == [["sandbox.a", "sandbox.b", "sandbox.c"]]
    lazy = ast.parse("from sandbox.ingest.dms import DmsTask\n")
    assert _imports(lazy, "sandbox.x", False) == {"sandbox.ingest.dms.task"}


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 80
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_module_imports_its_own_package_init() -> None:
    graph = import_graph()
    inward = [
        (name, target)
        for name, targets in graph.items()
        for target in targets
        if MODULES[target].name == "__init__.py"
        and name.startswith(target + ".")
        and MODULES[name].name != "__init__.py"
    ]
    assert not inward, inward


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("sandbox.jobs", "sandbox.app"),  # silver owns its contracts (#33)
        ("sandbox.orchestrate.aws.deploy", "sandbox.orchestrate.aws.server"),
    ],
)
def test_layer_does_not_import(importer: str, forbidden: str) -> None:
    graph = import_graph()
    seen = {n for n in graph if n == importer or n.startswith(importer + ".")}
    reached, todo = set(), list(seen)
    while todo:  # not through another module either
        for target in graph[todo.pop()]:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    bad = sorted(t for t in reached if t == forbidden or t.startswith(forbidden + "."))
    assert not bad, f"{importer} imports {bad}"
