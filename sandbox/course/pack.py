"""``sandbox course pack --student DIR``: the repository the students clone.

It is this repository's tracked files (``git ls-files``: no ``.env``, data or logs)
without what only the instructor may see: the reference solutions
(``course/exercise-*/solution/``), anyone's work folder, the instructor notes
(``course/README.md`` and ``README.pt-BR.md``, replaced by the students'
``course/README.student.md``) and the checker's own variants (``tests/course/``). The
checker needs none of them: exercise 1's oracle is the prototype notebook the students
start from (``sandbox.course.prototype``), exercise 2's checks read the work. The pack is
a git repository with one commit, ready to push to the class's remote.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sandbox.course.catalogue import t
from sandbox.course.checks import CourseError
from sandbox.platform import PROJECT_ROOT

# What stays with the instructor (fnmatch patterns on repository paths).
INSTRUCTOR_ONLY = (
    "course/exercise-*/solution/*",
    "course/exercise-*/work/*",
    "course/README.md",
    "course/README.pt-BR.md",
    "tests/course/*",
    # the case's own CI/CD answers exercise 2: shown after it (course/README.md)
    ".github/workflows/dbt.yml",
    "dbt/ci/run.sh",
)
STUDENT_README = "course/README.student.md"


@dataclass(frozen=True)
class Pack:
    path: Path
    files: int
    left_out: list[str]


def tracked_files(source: Path = PROJECT_ROOT) -> list[str]:
    """The repository's tracked files; a CourseError when ``source`` is not a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "ls-files", "-z"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise CourseError(t("pack.not_git", source=source)) from exc
    return [f for f in out.split("\0") if f and (source / f).is_file()]


def is_instructor_only(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in INSTRUCTOR_ONLY)


def pack_student(dest: Path, source: Path = PROJECT_ROOT) -> Pack:
    """Write the students' repository to ``dest`` (absent or empty, outside ``source``)."""
    dest = dest.resolve()
    if dest.is_relative_to(source.resolve()):
        raise CourseError(t("pack.inside", dest=dest, source=source))
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CourseError(t("pack.not_empty", dest=dest))
    files = tracked_files(source)
    kept = [f for f in files if not is_instructor_only(f) and f != STUDENT_README]
    for name in kept:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    if (source / STUDENT_README).is_file():
        shutil.copy2(source / STUDENT_README, dest / "course" / "README.md")
    _commit(dest)
    return Pack(dest, len(kept) + 1, sorted(f for f in files if is_instructor_only(f)))


def _commit(dest: Path) -> None:
    """One commit, so the pack is a repository to push; skipped where git cannot."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "course",
        "GIT_AUTHOR_EMAIL": "course@localhost",
        "GIT_COMMITTER_NAME": "course",
        "GIT_COMMITTER_EMAIL": "course@localhost",
    }
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "course: student repository"],
    ):
        if subprocess.run(command, cwd=dest, env=env, capture_output=True).returncode != 0:
            return
