"""A model of a repository's GitHub Actions workflows, for grading what they really run.

``load_repository(root)`` reads every ``*.yml``/``*.yaml`` of ``.github/workflows/``:
triggers, jobs with ``needs``/``if``/``env``/``services``, and each job's resolved
commands (:mod:`sandbox.course.shell_model`): its ``run:`` steps, the local composite
actions (``uses: ./path``) and reusable workflows (``uses: ./.github/workflows/x.yml``)
it calls, and the scripts, Makefile and justfile recipes those call. Behaviours
emulated, from the GitHub Actions docs (docs.github.com/en/actions):

- ``on`` / ``on.push.branches`` / ``branches-ignore`` / tags-only pushes:
  "Workflow syntax for GitHub Actions", ``on.<push|pull_request>.<branches|tags>``;
- ``jobs.<job_id>.needs``: a job waits for (and is skipped unless) its needs succeed,
  unless its ``if`` uses a status function (``always()``...);
- ``jobs.<job_id>.if`` and "Evaluate expressions in workflows and actions"
  (:mod:`sandbox.course.workflow_expr`);
- "Creating a composite action" (``runs.using: composite``, ``runs.steps``);
- "Reusing workflows" (``jobs.<job_id>.uses`` with ``./.github/workflows/x.yml``);
- default shell ``bash -e {0}`` for ``run:`` ("Workflow syntax", ``defaults.run.shell``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.course.shell_model import Command, resolve_shell, unwrap
from sandbox.course.workflow_expr import evaluate, strip_expr

__all__ = [
    "PULL_REQUEST",
    "PUSH_MAIN",
    "PUSH_OTHER",
    "Command",
    "Job",
    "Repository",
    "Workflow",
    "dbt_args",
    "evaluate",
    "load_repository",
    "may_run",
    "runs",
    "triggered",
]


class _Loader(yaml.SafeLoader):
    """Safe YAML whose mappings remember the line of each key's value."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    lines: dict[Any, tuple[int, bool]] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        block = getattr(value_node, "style", None) in {"|", ">"}
        lines[key] = (value_node.start_mark.line + 1 + (1 if block else 0), block)
    out["__lines__"] = lines
    out["__line__"] = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: Path) -> Any:
    """The YAML of ``path``, mappings with ``__line__``/``__lines__``; raises yaml.YAMLError."""
    return yaml.load(path.read_text(errors="replace"), Loader=_Loader)


def items(mapping: Any) -> list[tuple[Any, Any]]:
    if not isinstance(mapping, dict):
        return []
    return [(k, v) for k, v in mapping.items() if k not in {"__lines__", "__line__"}]


def line_of(mapping: Any, key: Any) -> int:
    if not isinstance(mapping, dict):
        return 0
    return mapping.get("__lines__", {}).get(key, (mapping.get("__line__", 0), False))[0]


def _env(mapping: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in items(mapping)}


@dataclass
class Job:
    id: str
    workflow: Workflow
    line: int
    needs: list[str]
    condition: str  # its `if:`, without ${{ }}
    spec: dict
    commands: list[Command] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # workflow + job env
    uses: list[str] = field(default_factory=list)  # actions and workflows it uses

    @property
    def where(self) -> str:
        return f"{self.workflow.rel}:{self.line}"

    @property
    def name(self) -> str:
        return self.id


@dataclass
class Workflow:
    path: Path
    rel: str
    triggers: dict[str, Any]
    jobs: dict[str, Job] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    name: str = ""


@dataclass
class Repository:
    root: Path
    workflows: list[Workflow] = field(default_factory=list)
    errors: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, YAML error

    def jobs(self) -> list[Job]:
        """Every job, but those of workflows only called (graded through their callers)."""
        called = [f for f in self.workflows if f.triggers and set(f.triggers) == {"workflow_call"}]
        return [j for f in self.workflows if f not in called for j in f.jobs.values()]

    def upstream(self, job: Job) -> list[Job]:
        """The jobs ``job`` needs, transitively (``jobs.<job_id>.needs``)."""
        seen: dict[str, Job] = {}
        todo = list(job.needs)
        while todo:
            name = todo.pop()
            other = job.workflow.jobs.get(name)
            if other is not None and name not in seen:
                seen[name] = other
                todo.extend(other.needs)
        return list(seen.values())


def _triggers(data: dict) -> dict[str, Any]:
    on = data.get("on", data.get(True, {}))  # YAML 1.1 reads the key `on` as True
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {str(t): {} for t in on}
    return {str(k): (v or {}) for k, v in items(on)}


def load_repository(root: Path) -> Repository:
    """Every workflow of ``root/.github/workflows``, jobs and resolved commands."""
    root = root.resolve()
    repo = Repository(root)
    folder = root / ".github" / "workflows"
    paths = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        try:
            data = read_yaml(path) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            repo.errors.append((rel, mark.line + 1 if mark else 0, str(exc).splitlines()[0]))
            continue
        if not isinstance(data, dict):
            repo.errors.append((rel, 1, "not a mapping"))
            continue
        flow = Workflow(path, rel, _triggers(data), env=_env(data.get("env")))
        flow.name = str(data.get("name") or path.stem)
        shell = str(
            ((data.get("defaults") or {}).get("run") or {}).get("shell") or ""
        )  # "": unset, `bash -e {0}`
        for job_id, spec in items(data.get("jobs")):
            if isinstance(spec, dict):
                flow.jobs[str(job_id)] = _job(repo, flow, str(job_id), spec, shell, 0)
        repo.workflows.append(flow)
    return repo


def _job(repo, flow: Workflow, job_id: str, spec: dict, shell: str, depth: int, inputs=None) -> Job:
    needs = spec.get("needs") or []
    needs = [needs] if isinstance(needs, str) else [str(n) for n in needs]
    condition = strip_expr(str(spec.get("if", "")))
    job = Job(job_id, flow, int(spec.get("__line__", 0)), needs, condition, spec)
    job.env = {**flow.env, **_env(spec.get("env"))}
    job.services = [str(s) for s, _ in items(spec.get("services"))]
    shell = str(((spec.get("defaults") or {}).get("run") or {}).get("shell") or shell)
    job_ok = not _true(spec.get("continue-on-error"))
    uses = str(spec.get("uses") or "")
    if uses:
        job.uses.append(uses)
        if uses.startswith("./") and depth < 3:  # a reusable workflow of this repository
            job.commands.extend(_called_workflow(repo, uses, spec, depth, job))
        return job
    for step in spec.get("steps") or []:
        if isinstance(step, dict):
            job.commands.extend(
                _step(repo, flow.rel, step, job.env, shell, job_ok, job, inputs or {}, depth)
            )
    return job


def _step(repo, rel, step, env, shell, ok, job, inputs, depth) -> list[Command]:
    env = {**env, **_env(step.get("env"))}
    ok = ok and not _true(step.get("continue-on-error"))
    where = f"{rel}:{step.get('__line__', 0)}"
    if "run" in step:
        text = _inputs(str(step["run"]), inputs)
        errexit = not re.search(
            r"\b(sh|pwsh|powershell|python|cmd)\b", str(step.get("shell", shell))
        )
        errexit = errexit or "-e" in str(step.get("shell", ""))
        # `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`; unset, `bash -e {0}`
        # (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstepsshell)
        chosen = str(step.get("shell", shell) or "")
        pipefail = chosen.strip() == "bash" or "pipefail" in chosen
        found = resolve_shell(
            text, rel, line_of(step, "run"), repo.root, env=env, errexit=errexit,
            pipefail=pipefail, step=where, cwd=str(step.get("working-directory") or ""),
        )  # fmt: skip
        if not ok:
            for cmd in found:
                cmd.can_fail = False
        return found
    uses = str(step.get("uses") or "")
    if not uses:
        return []
    job.uses.append(uses)
    if not uses.startswith("./") or depth >= 3:
        return []
    folder = repo.root / uses[2:]
    action = next((p for p in (folder / "action.yml", folder / "action.yaml") if p.is_file()), None)
    if action is None:
        return []
    try:
        data = read_yaml(action) or {}
    except yaml.YAMLError:
        return []
    arel = action.relative_to(repo.root).as_posix()
    values = {
        str(k): str(v.get("default", ""))
        for k, v in items(data.get("inputs"))
        if isinstance(v, dict)
    }
    values.update({str(k): _inputs(str(v), inputs) for k, v in items(step.get("with"))})
    out = []
    for inner in (data.get("runs") or {}).get("steps") or []:
        if isinstance(inner, dict):
            out.extend(_step(repo, arel, inner, env, "bash", ok, job, values, depth + 1))
    return out


def _called_workflow(repo: Repository, uses: str, spec: dict, depth: int, caller: Job):
    path = repo.root / uses[2:].split("@")[0]
    try:
        data = read_yaml(path) or {}
    except (OSError, yaml.YAMLError):
        return []
    rel = path.relative_to(repo.root).as_posix()
    call = (_triggers(data).get("workflow_call") or {}) if isinstance(data, dict) else {}
    values = {
        str(k): str(v.get("default", ""))
        for k, v in items(call.get("inputs"))
        if isinstance(v, dict)
    }
    values.update({str(k): str(v) for k, v in items(spec.get("with"))})
    inner = Workflow(path, rel, {}, env={**caller.env, **_env(data.get("env"))})
    out: list[Command] = []
    for job_id, job_spec in items(data.get("jobs")):
        if not isinstance(job_spec, dict):
            continue
        job = _job(repo, inner, str(job_id), job_spec, "bash", depth + 1, values)
        caller.services.extend(job.services)
        out.extend(job.commands)
    return out


def _inputs(text: str, values: dict[str, str]) -> str:
    if "inputs." not in text:
        return text
    return re.sub(
        r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)), text
    )


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


# -- when a job runs ------------------------------------------------------------------

# Events a grader asks about: (event, ref, base_ref).
PULL_REQUEST = ("pull_request", "refs/pull/1/merge", "main")
PUSH_MAIN = ("push", "refs/heads/main", "")
PUSH_OTHER = ("push", "refs/heads/feature", "")


def triggered(flow: Workflow, event: tuple[str, str, str]) -> bool:
    """Whether ``flow`` starts on ``event`` (on.<event>.branches/-ignore, tags-only)."""
    name, ref, base = event
    names = [name, "pull_request_target"] if name == "pull_request" else [name]
    for trigger in names:
        if trigger not in flow.triggers:
            continue
        spec = flow.triggers[trigger] if isinstance(flow.triggers[trigger], dict) else {}
        branch = base if name == "pull_request" else ref.removeprefix("refs/heads/")
        wanted, ignored = spec.get("branches"), spec.get("branches-ignore")
        if wanted is not None:
            wanted = [wanted] if isinstance(wanted, str) else wanted
            if not any(_glob(branch, str(p)) for p in wanted):
                continue
        elif ignored is not None:
            ignored = [ignored] if isinstance(ignored, str) else ignored
            if any(_glob(branch, str(p)) for p in ignored):
                continue
        elif name == "push" and (spec.get("tags") or spec.get("tags-ignore")):
            continue  # only tags: no branch push starts it
        return True
    return False


def _glob(branch: str, pattern: str) -> bool:
    if pattern.startswith("!"):
        return False
    return fnmatch.fnmatchcase(branch, pattern.replace("**", "*"))


def may_run(repo: Repository, job: Job, event: tuple[str, str, str], _seen=()) -> bool:
    """Whether ``job`` can run on ``event``: trigger, ``if``, and the jobs it needs."""
    if not triggered(job.workflow, event) or evaluate(job.condition, event) is False:
        return False
    if re.search(r"\b(always|failure|cancelled)\s*\(", job.condition):
        return True
    for name in job.needs:
        other = job.workflow.jobs.get(name)
        if (
            other is not None
            and name not in _seen
            and not may_run(repo, other, event, (*_seen, job.id))
        ):
            return False
    return True


# -- what commands run ----------------------------------------------------------------


def runs(repo: Repository, *program: str) -> list[tuple[Job, Command]]:
    """The (job, command) pairs whose command runs ``program`` (e.g. ``"dbt", "build"``).

    argv-based: wrappers (``uv run``, ``python -m``, ``X=y``) are skipped, so
    ``uv run pytest`` and ``python -m pytest`` run ``pytest``; printed commands never run.
    """
    found = []
    for job in repo.jobs():
        for cmd in job.commands:
            if cmd.printed:
                continue
            words = dbt_args(cmd) if program[0] == "dbt" else cmd.words
            if program[0] == "dbt":
                if words is not None and words[: len(program) - 1] == list(program[1:]):
                    found.append((job, cmd))
            elif words and [Path(words[0]).name, *words[1 : len(program)]] == list(program):
                found.append((job, cmd))
    return found


def dbt_args(cmd: Command) -> list[str] | None:
    """The arguments of a dbt call (``dbt build -s x`` -> ``[build, -s, x]``), else None.

    A wrapper module or script named ``*dbt`` (``python -m x.dbt run -- build``) counts:
    its arguments after ``--`` are dbt's.
    """
    words = unwrap(cmd.argv)
    if words[:1] == ["docker"] and "run" in words and "dbt" in words[words.index("run") :]:
        # dbt in a container: `docker run [options] image dbt build ...`
        words = words[words.index("dbt", words.index("run")) :]
    if not words or words[0] in {"docker", "echo", "printf"}:
        return None
    name = Path(words[0]).name
    if name == "dbt":
        return words[1:]
    if re.search(r"(^|[._-])dbt(\.py)?$", name) and "--" in words:
        return words[words.index("--") + 1 :]
    return None
