"""Skipping a table whose code and inputs are what they were when it was published.

An engineer changing one gold mart re-runs ``sandbox run silver gold warehouse``: only
that mart's rows can differ, yet every table used to be rebuilt. A table's
*fingerprint* hashes everything its rows are a function of:

- its own code: the build function of its declaration, every function of the job's
  module that function reaches, the constants they read, and its rules;
- the job's shared code: every other global of the job's module and of every project
  module it uses (functions and classes by their bytecode, so a comment, a blank line
  or a reformat is not a change; other values by value), plus the versions of PySpark
  and delta-rs and the engine's profile;
- its inputs: every lake table it reads, as its Delta version and a hash of that
  version's commit (read at that version), or the fingerprint of a table built
  earlier in the same run.

Publishing a table writes its fingerprint, with the run's counts, into the Delta
commit itself (``commitInfo``, key ``sandbox``). A run that computes the same
fingerprint as the table's latest commit reads the published version instead of
building it again; any other commit to the table since (anyone's) makes it stale.
``sandbox run --force`` rebuilds everything regardless.

What the fingerprint cannot see: a lake file changed behind Delta's back, code outside
the project other than the two libraries named above (the engine's binary is covered
by the profile only), and a value without a stable ``repr`` (named by its type only).
``--force`` is the way out. Values that hold paths (the checkout's location) make two
checkouts of the same code fingerprint apart, so they rebuild each other's tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import re
import sys
import types
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlparse

from minio import Minio
from minio.error import S3Error

from sandbox.platform import Settings
from sandbox.platform.services import s3_client

# The commitInfo field a publish writes its record into.
RECORD_KEY = "sandbox"
PROJECT = "sandbox"
# Reading a table's state is three object-store requests: threads overlap them.
LOAD_THREADS = 8


def digest(*parts: object) -> str:
    """A short stable hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- code -----------------------------------------------------------------------------


def stable_repr(value: object) -> str:
    """A repr that is the same in every process (sets are ordered, objects named)."""
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(stable_repr(v) for v in value)) + "}"
    if isinstance(value, (tuple, list)):
        return type(value).__name__ + "(" + ",".join(stable_repr(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ",".join(f"{stable_repr(k)}:{stable_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, types.CodeType):
        return _code_text(value)
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, types.ModuleType):
        return value.__name__
    text = repr(value)
    # An object without a value repr would differ in every process: name its type.
    return type(value).__qualname__ if " at 0x" in text else text


def _code_text(code: types.CodeType) -> str:
    consts = ",".join(stable_repr(c) for c in code.co_consts)
    return f"{code.co_code.hex()}|{consts}|{','.join(code.co_names)}"


def _project_module(value: object) -> str | None:
    """The project module ``value`` is, or is defined in (None outside the project)."""
    if isinstance(value, types.ModuleType):
        name = value.__name__
    elif isinstance(value, (types.FunctionType, type)):
        name = value.__module__
    else:
        return None
    return name if name.split(".")[0] == PROJECT else None


def code_digest(fn: Callable, module: types.ModuleType, modules: set[str] | None = None) -> str:
    """The code of ``fn`` and of every function of ``module`` it reaches, with the
    values of the module's constants they read (by global name, transitively).

    Bytecode, not source: a comment or a line moved is not a change. The project
    modules it uses (imported at the top or inside a function) are added to
    ``modules``."""
    parts: list[str] = []
    seen: set[str] = set()
    found = modules if modules is not None else set()

    def visit(code: types.CodeType) -> None:
        parts.append(_code_text(code))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                visit(const)
        for name in code.co_names:
            if name.split(".")[0] == PROJECT and name in sys.modules:  # an import inside
                found.add(name)
                found.update(f"{name}.{n}" for n in code.co_names if f"{name}.{n}" in sys.modules)
            if name in seen or name not in module.__dict__:
                continue
            seen.add(name)
            value = module.__dict__[name]
            if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
                parts.append(
                    f"def {name} {stable_repr(value.__defaults__)} "
                    f"{stable_repr(value.__kwdefaults__)}"
                )
                visit(value.__code__)
            else:
                parts.append(f"{name}={stable_repr(value)}")
                if project := _project_module(value):
                    found.add(project)

    visit(fn.__code__)
    return digest(parts)


def reached_functions(fns: Iterable[Callable], module: types.ModuleType) -> set[str]:
    """Names of the functions of ``module`` that ``fns`` reach (see ``code_digest``)."""
    names: set[str] = set()

    def visit(code: types.CodeType) -> None:
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                visit(const)
        for name in code.co_names:
            value = module.__dict__.get(name)
            if (
                name not in names
                and isinstance(value, types.FunctionType)
                and value.__module__ == module.__name__
            ):
                names.add(name)
                visit(value.__code__)

    for fn in fns:
        visit(fn.__code__)
    return names


def module_digest(module: types.ModuleType, skip: set[str], modules: set[str]) -> str:
    """Every global of ``module`` but ``skip``: functions and classes defined there by
    their code, the rest by value. Project modules it uses are added to ``modules``."""
    parts = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("__") or name in skip:
            continue
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            parts.append(f"def {name} {code_digest(value, module, modules)}")
        elif isinstance(value, type) and value.__module__ == module.__name__:
            parts.append(f"class {name} {_class_digest(value, module, modules)}")
        else:
            parts.append(f"{name}={stable_repr(value)}")
            if project := _project_module(value):
                modules.add(project)
    return digest(parts)


def _class_digest(cls: type, module: types.ModuleType, modules: set[str]) -> str:
    parts = [stable_repr(cls.__bases__), stable_repr(vars(cls).get("__annotations__", {}))]
    for name, value in vars(cls).items():
        if name.startswith("__"):
            continue
        fn = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if isinstance(fn, types.FunctionType):
            parts.append(f"{name} {code_digest(fn, module, modules)}")
        else:
            parts.append(f"{name}={stable_repr(value)}")
    return digest(parts)


def shared_digest(module: types.ModuleType, declared: str, *, exclude: Iterable[str] = ()) -> str:
    """The job's code that every table shares: its module without the tables'
    declaration (``declared``, the name of the list whose items' ``build`` make the
    tables) and the functions only those reach, and every project module it uses,
    transitively, except ``exclude`` (and what only those use). A change here
    rebuilds every table of the job."""
    table_functions = reached_functions([t.build for t in getattr(module, declared)], module)
    modules: set[str] = set()
    # Functions the shared code reaches are shared, even if a table reaches them too.
    kept = set(vars(module)) - table_functions - {declared}
    shared = reached_functions(
        [v for k, v in vars(module).items() if k in kept and isinstance(v, types.FunctionType)],
        module,
    )
    parts = [module_digest(module, (table_functions - shared) | {declared}, modules)]
    seen = {module.__name__, *exclude}
    while pending := sorted(modules - seen):
        for name in pending:
            seen.add(name)
            imported = sys.modules.get(name) or importlib.import_module(name)
            parts.append(f"{name}:{module_digest(imported, set(), modules)}")
    return digest(sorted(parts), engine_versions())


@cache
def engine_versions() -> str:
    import deltalake
    import pyspark

    return f"pyspark {pyspark.__version__}, deltalake {deltalake.__version__}"


class Inputs(dict):
    """Frames by name that remember which names were asked for (a table's inputs)."""

    def __init__(self, frames: dict) -> None:
        super().__init__(frames)
        self.read: set[str] = set()

    def __getitem__(self, name: str):
        self.read.add(name)
        return super().__getitem__(name)


# -- tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TableState:
    """A Delta table as a run found it: its latest version, a hash of that version's
    commit (a table deleted and created again starts its versions over), and the
    record of the publish that made it (None: not a publish that records one)."""

    uri: str
    version: int
    commit: str
    record: dict | None

    @property
    def identity(self) -> str:
        return f"{self.version} (commit {self.commit})"


_COMMIT = re.compile(r"^(\d{20})\.json$")


def table_state(settings: Settings, uri: str, s3: Minio | None = None) -> TableState | None:
    """The table's latest commit, or None if there is no Delta table at ``uri``.

    Read from the log's objects (the protocol's ``_last_checkpoint``, then the commit
    files after it), not by loading the table: three requests instead of the table's
    whole state. ``s3``: a client to share (its connections are reused)."""
    parsed = urlparse(uri)
    bucket, log = parsed.netloc, parsed.path.strip("/") + "/_delta_log/"
    s3 = s3 or s3_client(settings)
    start = None
    checkpoint = _get(s3, bucket, log + "_last_checkpoint")
    if checkpoint is not None:
        start = f"{log}{json.loads(checkpoint)['version']:020d}"
    latest = None
    for obj in s3.list_objects(bucket, log, start_after=start):
        match = _COMMIT.match(obj.object_name[len(log) :])
        if match and (latest is None or int(match.group(1)) > latest[0]):
            latest = (int(match.group(1)), obj)
    if latest is None:
        return None
    version, obj = latest
    body = _get(s3, bucket, obj.object_name) or b""
    record = None
    for line in body.splitlines():
        action = json.loads(line) if line.strip() else {}
        raw = action.get("commitInfo", {}).get(RECORD_KEY)
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                record = json.loads(raw)
    return TableState(uri, version, hashlib.sha256(body).hexdigest()[:16], record)


def _get(s3: Minio, bucket: str, key: str) -> bytes | None:
    try:
        response = s3.get_object(bucket, key)
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            return None
        raise
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


# The states of the tables a pipeline run has read or published so far, by uri: a task
# passes it on to the next one in the same process, which then reads only the others.
KnownStates = dict[str, "TableState | None"]


def table_states(
    settings: Settings, uris: Iterable[str], known: KnownStates | None = None
) -> dict[str, TableState | None]:
    """The state of each table, loaded side by side.

    A table in ``known`` is taken from there (a task earlier in the same run read or
    published it); the others are loaded and added to ``known``."""
    uris = list(dict.fromkeys(uris))
    known = {} if known is None else known
    missing = [u for u in uris if u not in known]
    if missing:
        s3 = s3_client(settings)  # one client, its connection pool shared by the threads
        with ThreadPoolExecutor(min(LOAD_THREADS, len(missing))) as pool:
            known.update(
                zip(missing, pool.map(lambda u: table_state(settings, u, s3), missing), strict=True)
            )
    return {u: known[u] for u in uris}


def record_matches(state: TableState | None, fingerprint: str) -> bool:
    return bool(state and state.record and state.record.get("fingerprint") == fingerprint)


def commit_metadata(record: dict | None) -> dict[str, str] | None:
    """The commitInfo fields that carry ``record`` (see ``table_state``)."""
    return None if record is None else {RECORD_KEY: json.dumps(record, sort_keys=True)}
