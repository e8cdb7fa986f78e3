"""Shell text read into words: the simple commands of a line and what they call.

:class:`Command` is one simple command (argv, file and line). :func:`logical_lines`
joins ``\\`` continuations and drops comments and heredoc bodies, :func:`split_commands`
shlex-splits a line on ``&&``, ``||``, ``;``, ``|``, :func:`case_select` keeps the
``case`` branch an argument selects, :func:`substitute` puts ``$1``.. in, and
:func:`unwrap` strips wrappers (``uv run``, ``python -m``, ``sudo``, ``X=y``) off argv.
:mod:`sandbox.course.shell_model` runs these over scripts, Makefiles and justfiles.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Command",
    "case_select",
    "logical_lines",
    "skip_options",
    "split_commands",
    "substitute",
    "unwrap",
]

_OPS = {"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", "{", "}"}
_WRAPPERS = {"sudo", "env", "command", "nohup", "exec", "time", "xargs"}
_VALUED = {
    "--group", "--with", "--extra", "--project", "--directory", "--package", "--env-file",
    "--python", "-p", "--only-group", "--with-requirements", "--from", "--index",
}  # fmt: skip
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
_ARG = re.compile(r"\$\{?([0-9@*])(?::?[-=][^}]*)?\}?")


@dataclass
class Command:
    """One simple command, as a list of words, and where it is written."""

    argv: list[str]
    file: str  # relative to the repository root
    line: int
    can_fail: bool = True  # its failure fails the job
    printed: bool = False  # only printed (echo, heredoc): it runs nothing
    env: dict[str, str] = field(default_factory=dict)  # workflow/job/step env, inline X=y
    step: str = ""  # the workflow step it comes from, file:line

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def words(self) -> list[str]:
        """argv without env assignments and wrappers (uv run, python -m, sudo, env...)."""
        return unwrap(self.argv)

    def text(self) -> str:
        return " ".join(self.argv)


def unwrap(argv: list[str]) -> list[str]:
    """``argv`` without env assignments and wrappers (uv run, python -m, sudo, env...)."""
    words = list(argv)
    changed = True
    while words and changed:
        changed = False
        head = words[0]
        if re.match(r"^[A-Za-z_]\w*=", head) or head.startswith("$") or head in _WRAPPERS:
            words, changed = words[1:], True
        elif head in {"uv", "poetry", "pdm", "hatch", "pipenv", "rye"} and words[1:2] == ["run"]:
            words, changed = skip_options(words[2:]), True
        elif head == "uvx" or (head == "pipx" and words[1:2] == ["run"]):
            words, changed = skip_options(words[1 if head == "uvx" else 2 :]), True
        elif re.match(r"^python[0-9.]*$", Path(head).name) and words[1:2] == ["-m"]:
            words, changed = words[2:], True
    return words


def skip_options(words: list[str]) -> list[str]:
    """``words`` without their leading options (and the values of ``--with x``...)."""
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] in _VALUED else words[1:]
    return words


def logical_lines(text: str, first: int) -> list[tuple[int, str]]:
    """Lines with ``\\`` continuations joined, heredoc bodies and comments dropped."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start, line = i, lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        heredoc = _HEREDOC.search(line)
        if heredoc and not line.lstrip().startswith("#"):
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                i += 1
            i += 1
        if line.strip() and not line.lstrip().startswith("#"):
            out.append((first + start, line))
    return out


def split_commands(line: str) -> list[tuple[list[str], str]]:
    """Simple commands of a line, each with the operator that follows it."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = line.split()
    out: list[tuple[list[str], str]] = []
    current: list[str] = []
    for token in tokens:
        if token in _OPS or set(token) <= set(";&|()"):
            if current:
                out.append((current, token))
            current = []
        else:
            current.append(token)
    if current:
        out.append((current, ""))
    return out


def substitute(word: str, args: list[str]) -> str:
    """``word`` with ``$1``.., ``$@`` and ``$*`` replaced by the script's ``args``."""

    def one(m: re.Match) -> str:
        key = m.group(1)
        if key in "@*":
            return " ".join(args)
        index = int(key) - 1
        return args[index] if 0 <= index < len(args) else m.group(0)

    return _ARG.sub(one, word) if "$" in word else word


def case_select(lines: list[tuple[int, str]], args: list[str]) -> list[tuple[int, str]]:
    """Lines with each ``case $N in`` reduced to the branch the argument selects."""
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        number, line = lines[i]
        match = re.match(r"^\s*case\s+(\S+)\s+in\s*$", line)
        if not match:
            out.append((number, line))
            i += 1
            continue
        subject = substitute(match.group(1).strip("\"'"), args)
        known = "$" not in subject
        depth, i = 1, i + 1
        chosen = False
        taking = False
        while i < len(lines) and depth:
            number, line = lines[i]
            i += 1
            stripped = line.strip()
            if re.match(r"^case\s", stripped):
                depth += 1
            if stripped == "esac" or stripped.endswith(" esac") or stripped.endswith(";esac"):
                depth -= 1
                if depth == 0:
                    break
            head = re.match(r"^\(?([^()\s][^()]*)\)\s*(.*)$", stripped)
            if depth == 1 and head and not taking:
                patterns = [p.strip().strip("\"'") for p in head.group(1).split("|")]
                hit = not known or (
                    not chosen and any(fnmatch.fnmatchcase(subject, p) for p in patterns)
                )
                chosen = chosen or (known and hit)
                taking = hit
                stripped = head.group(2)
            if taking and stripped:
                ends = stripped.endswith(";;")
                body = stripped[:-2].strip() if ends else stripped
                if body:
                    out.append((number, body))
                if ends:
                    taking = False
            elif not taking and stripped.endswith(";;"):
                pass
    return out
