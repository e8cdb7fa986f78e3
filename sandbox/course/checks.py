"""The checker's shared parts: a check result, where exercises live, CI workflow reading.

Grading itself (which checks an exercise has) is :mod:`sandbox.course.grade`.

Each exercise module lists its checks as functions of the student's folder returning
:class:`Check`; a failed check's message says what to do, in one or two sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sandbox.platform import PROJECT_ROOT, SandboxError

COURSE_DIR = PROJECT_ROOT / "course"
EXERCISES = {1: "exercise-1", 2: "exercise-2"}


class CourseError(SandboxError):
    """A checker call that cannot start (unknown exercise, missing folder)."""


@dataclass(frozen=True)
class Check:
    """One graded point: its name, whether it passed, and what to do next if not.

    ``name`` is the check's stable English id (tests and scripts key on it); ``title``
    is what a student reads, from the catalogue's ``title.<name>`` in their language.
    ``message`` is already in their language (built with ``catalogue.t``).
    """

    name: str
    passed: bool
    message: str

    @property
    def title(self) -> str:
        from sandbox.course.catalogue import MESSAGES, t

        key = "title." + self.name.replace(" ", "_")
        return t(key) if key in MESSAGES else self.name


# -- CI workflows (both exercises grade one) -------------------------------------------

_CONTINUATION = re.compile(r"\\\n\s*")


@dataclass
class Job:
    name: str
    spec: dict
    run: str  # its `run:` steps, one per line, continuations joined
    called: str = ""  # the text of the scripts and recipes those steps call

    @property
    def text(self) -> str:
        return f"{self.run}\n{self.called}"

    @property
    def condition(self) -> str:
        return str(self.spec.get("if", ""))


@dataclass
class Workflow:
    path: Path
    triggers: dict
    jobs: list[Job] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)  # called file -> its text

    def push_branches(self) -> list[str]:
        push = self.triggers.get("push") or {}
        return list(push.get("branches") or []) if isinstance(push, dict) else []


def workflows(root: Path) -> list[Workflow]:
    """The GitHub Actions workflows under ``root/.github/workflows``, read for grading.

    A workflow that is not valid YAML raises a CourseError naming the file.
    """
    found = []
    folder = root / ".github" / "workflows"
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CourseError(f"course: {path} is not valid YAML: {exc}") from exc
        # YAML 1.1 reads the key `on` as True.
        triggers = data.get("on", data.get(True, {}))
        if isinstance(triggers, str):
            triggers = {triggers: {}}
        elif isinstance(triggers, list):
            triggers = {t: {} for t in triggers}
        flow = Workflow(path, triggers or {})
        for name, spec in (data.get("jobs") or {}).items():
            steps = spec.get("steps") or []
            run = "\n".join(_CONTINUATION.sub(" ", str(s.get("run", ""))) for s in steps)
            called = {f: t for f, t in _called_files(root, run).items()}
            flow.scripts.update(called)
            flow.jobs.append(Job(name, spec, run, "\n".join(called.values())))
        found.append(flow)
    return found


def _called_files(root: Path, run: str) -> dict[str, str]:
    """Files of ``root`` that the commands ``run`` names (scripts, or the justfile)."""
    out = {}
    for token in re.split(r"[\s;&|()]+", run):
        token = token.strip("'\"").removeprefix("./")
        if not token or token.startswith("-"):
            continue
        candidate = root / token
        if candidate.is_file() and candidate.suffix not in {".yml", ".yaml", ".sql", ".json"}:
            out[token] = _commands(candidate.read_text())
    if re.search(r"(^|\s)just\s", run) and (root / "justfile").is_file():
        out["justfile"] = _commands((root / "justfile").read_text())
    return out


def _commands(text: str) -> str:
    """A script's lines without comments (which may name steps it does not run)."""
    lines = _CONTINUATION.sub(" ", text).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))
