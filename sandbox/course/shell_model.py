"""Commands a CI step really runs: shell text, the scripts, Makefile and justfile it calls.

:func:`resolve_shell` turns the text of a ``run:`` step (or a script) into
:class:`Command`s: shlex-split simple commands (split on ``&&``, ``||``, ``;``, ``|``),
each with its file and line, whether its failure can fail the job and whether it is
only printed. Calls to files of the repository are followed: ``bash x.sh arg``,
``./x.sh``, ``uv run x.sh`` (the ``case`` branch and the functions the argument
selects), ``make target`` (recipe lines, prerequisites first) and ``just recipe``.
This is a reader, not a shell: variables other than ``$1``.. stay as written. Lines
are read into words by :mod:`sandbox.course.shell_parse`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sandbox.course.shell_parse import (
    Command,
    case_select,
    logical_lines,
    skip_options,
    split_commands,
    substitute,
    unwrap,
)

__all__ = ["MAX_DEPTH", "Command", "find_file", "resolve_shell", "unwrap"]

_KEYWORDS = {
    "then",
    "do",
    "else",
    "elif",
    "if",
    "while",
    "until",
    "!",
    "time",
    "exec",
    "done",
    "fi",
}
_PRINT = {"echo", "printf", "cat", "tee", ":", "true", "false", "exit", "return", "cd"}
_FUNC = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*(?:\(\s*\))?\s*\{\s*(.*)$")
MAX_DEPTH = 6


@dataclass
class _Context:
    root: Path
    errexit: bool  # the shell stops at a failed command (`bash -e`, `set -e`)
    env: dict[str, str]
    step: str
    depth: int = 0
    seen: frozenset[str] = frozenset()
    # a pipeline fails when any command of it does (`set -o pipefail`; GitHub's
    # `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`, its default `bash -e`)
    pipefail: bool = False


def resolve_shell(
    text: str,
    file: str,
    first_line: int,
    root: Path,
    *,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    errexit: bool = True,
    pipefail: bool = False,
    step: str = "",
    cwd: str = "",
) -> list[Command]:
    """The commands ``text`` runs (its first line is ``first_line`` of ``file``)."""
    ctx = _Context(root, errexit, dict(env or {}), step or f"{file}:{first_line}")
    ctx.pipefail = pipefail
    return _script(text, file, first_line, ctx, args or [], cwd)


def _script(text: str, file: str, first: int, ctx: _Context, args: list[str], cwd: str):
    lines = logical_lines(text, first)
    functions: dict[str, list[tuple[int, str]]] = {}
    top: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):  # functions: `name() {` .. a `}` at the same indentation
        number, line = lines[i]
        match = _FUNC.match(line)
        if match and ("()" in line or line.lstrip().startswith("function")):
            indent = len(line) - len(line.lstrip())
            rest = match.group(2).strip()
            if rest.endswith("}"):
                functions[match.group(1)] = [(number, rest[:-1])]
                i += 1
                continue
            body = [(number, rest)] if rest else []
            i += 1
            while i < len(lines):
                n2, l2 = lines[i]
                if l2.strip().startswith("}") and len(l2) - len(l2.lstrip()) <= indent:
                    break
                body.append((n2, l2))
                i += 1
            functions[match.group(1)] = body
            i += 1
            continue
        top.append((number, line))
        i += 1
    return _block(top, file, ctx, args, functions, cwd)


def _block(lines, file, ctx: _Context, args, functions, cwd) -> list[Command]:
    commands: list[Command] = []
    errexit = ctx.errexit
    pipefail = ctx.pipefail
    for number, line in case_select(lines, args):
        condition = bool(re.match(r"^\s*(if|elif|while|until)\s", line))
        parts = split_commands(line)
        for index, (raw, op) in enumerate(parts):
            words = [x for w in raw for x in (args if w in {"$@", "$*"} else [substitute(w, args)])]
            while words and words[0] in _KEYWORDS:
                condition = condition or words[0] in {"if", "elif", "while", "until", "!"}
                words = words[1:]
            if not words or words[0] in {"fi", "done", "esac", "else"}:
                continue
            if condition and words[0] == "then":
                condition = False
                words = words[1:]
                if not words:
                    continue
            if words[0] == "set":
                flags = " ".join(words[1:])
                if re.search(r"(^|\s)-\w*e", flags) or "-o errexit" in flags:
                    errexit = True
                if re.search(r"(^|\s)\+\w*e", flags) or "+o errexit" in flags:
                    errexit = False
                if re.search(r"-\w*o\s+pipefail", flags):
                    pipefail = True
                if "+o pipefail" in flags:
                    pipefail = False
            if words[0] == "cd" and len(words) > 1 and "$" not in words[1]:
                cwd = str(Path(cwd) / words[1])
            fallback = parts[index + 1][0] if op == "||" and index + 1 < len(parts) else []
            neutral = op == "||" and not _fails(fallback)
            # whether its failure is the step's, were the shell to stop at one (-e);
            # without -e only the block's last command counts (see below)
            piped = op == "|" and not pipefail
            can_fail = not condition and not neutral and op != "&&" and not piped
            can_fail = can_fail or (op == "&&" and not condition)
            if index > 0 and parts[index - 1][1] == "||":
                can_fail = not condition
            env = dict(ctx.env)
            for word in raw:
                if not re.match(r"^[A-Za-z_]\w*=", word):
                    break
                key, _, value = word.partition("=")
                env[key] = value
            if words[0] in {"export", "local", "declare", "readonly"}:
                for word in words[1:]:
                    if "=" in word:
                        key, _, value = word.partition("=")
                        ctx.env[key] = value
                        env[key] = value
            cmd = Command(words, file, number, can_fail, _printed(words), env, ctx.step)
            commands.append(cmd)
            sub = ctx.depth < MAX_DEPTH
            if sub and words[0] in functions and words[0] not in ctx.seen:
                inner = _Context(
                    ctx.root, errexit, env, ctx.step, ctx.depth + 1, ctx.seen | {words[0]}
                )
                inner.pipefail = pipefail
                body = _block(functions[words[0]], file, inner, words[1:], functions, cwd)
                commands.extend(_weaken(body, can_fail or not errexit))
            elif sub:
                commands.extend(_weaken(_follow(cmd, ctx, cwd), can_fail))
        if not errexit and commands:  # without -e only the last command's status counts
            for cmd in commands[:-1]:
                cmd.can_fail = False
    return commands


def _weaken(commands: list[Command], can_fail: bool) -> list[Command]:
    if not can_fail:
        for cmd in commands:
            cmd.can_fail = False
    return commands


def _fails(fallback: list[str]) -> bool:
    """Whether ``x || fallback`` still fails: ``exit 1``, ``false``, ``return 1``."""
    if not fallback:
        return True
    head = fallback[0]
    if head in {"exit", "return"}:
        return len(fallback) > 1 and fallback[1] not in {"0"}
    return head in {"false"} or head not in {"true", ":", "echo", "printf"}


def _printed(words: list[str]) -> bool:
    return Path(words[0]).name in _PRINT


def _follow(cmd: Command, ctx: _Context, cwd: str) -> list[Command]:
    """The commands of the repository file ``cmd`` calls (script, make, just)."""
    words = cmd.words
    if not words or cmd.printed:
        return []
    head = words[0]
    if head in {"make", "gmake"}:
        return _make(words[1:], cmd, ctx, cwd)
    if head == "just":
        return _just(words[1:], cmd, ctx, cwd)
    if Path(head).name in {"bash", "sh", "zsh", "source", "."} or re.match(
        r"^python[0-9.]*$", Path(head).name
    ):
        words = skip_options(words[1:])
        if not words:
            return []
    path = find_file(ctx.root, words[0], cwd)
    if path is None or path.suffix in {".yml", ".yaml", ".sql", ".json", ".py"}:
        return []
    rel = path.relative_to(ctx.root).as_posix()
    if rel in ctx.seen and len(words) == 1:
        return []
    text = path.read_text(errors="replace")
    errexit = bool(re.match(r"^#!.*\s-\w*e", text)) or False
    inner = _Context(ctx.root, errexit, dict(cmd.env), ctx.step, ctx.depth + 1, ctx.seen | {rel})
    return _script(text, rel, 1, inner, words[1:], str(path.parent.relative_to(ctx.root)))


def find_file(root: Path, word: str, cwd: str = "") -> Path | None:
    """The repository file a command word names, relative to ``cwd`` or the root."""
    word = word.strip("\"'")
    if not word or word.startswith("-"):
        return None
    if "$" in word:  # "$DIR/ci/run.sh": the file whose path ends the same way
        tail = re.sub(r"^.*\$\{?\w+\}?/?", "", word)
        if not tail or ("/" not in tail and "." not in tail):
            return None
        hits = [p for p in root.rglob(Path(tail).name) if p.as_posix().endswith(tail)]
        hits = [p for p in hits if ".git" not in p.parts and "node_modules" not in p.parts]
        return hits[0] if len(hits) == 1 else None
    for base in (root / cwd, root):
        candidate = (base / word).resolve()
        try:
            candidate.relative_to(root)
        except ValueError:
            continue
        if candidate.is_file():
            return candidate
    return None


def _make(words: list[str], cmd: Command, ctx: _Context, cwd: str) -> list[Command]:
    directory, file, targets = cwd, "", []
    while words:
        word = words.pop(0)
        if word in {"-C", "--directory"} and words:
            directory = str(Path(cwd) / words.pop(0))
        elif word in {"-f", "--file", "--makefile"} and words:
            file = words.pop(0)
        elif not word.startswith("-") and "=" not in word:
            targets.append(word)
    candidates = [file] if file else ["GNUmakefile", "makefile", "Makefile"]
    path = next((p for n in candidates if (p := find_file(ctx.root, n, directory))), None)
    if path is None:
        return []
    rel = path.relative_to(ctx.root).as_posix()
    rules: dict[str, tuple[list[str], list[tuple[int, str]]]] = {}
    current: list[tuple[int, str]] | None = None
    first_target = ""
    lines = path.read_text(errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        rule = re.match(r"^([\w./%-]+(?:\s+[\w./%-]+)*)\s*::?(?!=)\s*([^;#]*)(?:;(.*))?$", line)
        if line.startswith("\t") and current is not None:
            if current and current[-1][1].endswith("\\"):
                current[-1] = (current[-1][0], current[-1][1][:-1] + " " + line.strip())
            else:
                current.append((number, line[1:]))
        elif rule and not line.startswith("\t"):
            current = [(number, rule.group(3))] if rule.group(3) else []
            for target in rule.group(1).split():
                rules[target] = (rule.group(2).split(), current)
                if not first_target and not target.startswith("."):
                    first_target = target
        elif line.strip() and not line.startswith("#"):
            current = None
    out: list[Command] = []
    done: set[str] = set()

    def run(target: str, depth: int) -> None:
        if target in done or target not in rules or depth > MAX_DEPTH:
            return
        done.add(target)
        prereqs, recipe = rules[target]
        for pre in prereqs:
            run(pre, depth + 1)
        inner = _Context(ctx.root, True, dict(cmd.env), ctx.step, ctx.depth + 1, ctx.seen)
        for number, line in recipe:
            body = line.strip()
            ignore = False
            while body[:1] in {"@", "-", "+"}:
                ignore = ignore or body[0] == "-"
                body = body[1:]
            body = body.replace("$$", "$").replace("$(MAKE)", "make")
            found = _block([(number, body)], rel, inner, [], {}, str(path.parent))
            out.extend(_weaken(found, not ignore))

    for target in targets or [first_target]:
        run(target, 0)
    return out


def _just(words: list[str], cmd: Command, ctx: _Context, cwd: str) -> list[Command]:
    file = ""
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in {"-f", "--justfile", "-d", "--working-directory"} and words:
            value = words.pop(0)
            file = value if option in {"-f", "--justfile"} else file
    candidates = [file] if file else ["justfile", "Justfile", ".justfile"]
    path = next((p for n in candidates if (p := find_file(ctx.root, n, cwd))), None)
    if path is None:
        return []
    rel = path.relative_to(ctx.root).as_posix()
    recipes: dict[str, tuple[list[str], list[str], list[tuple[int, str]]]] = {}
    order: list[str] = []
    current: list[tuple[int, str]] | None = None
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        head = re.match(r"^@?([A-Za-z_][\w-]*)((?:\s+[^:=\s]+)*)\s*:(?!=)\s*(.*)$", line)
        if line[:1] in {" ", "\t"} and current is not None:
            current.append((number, line.strip()))
        elif head:
            current = []
            params = [p.lstrip("*+$").split("=")[0] for p in head.group(2).split()]
            deps = [d for d in head.group(3).split() if not d.startswith("#")]
            recipes[head.group(1)] = (params, deps, current)
            order.append(head.group(1))
        elif line.strip() and not line.startswith("#"):
            current = None
    out: list[Command] = []

    def run(name: str, values: list[str], depth: int) -> None:
        if name not in recipes or depth > MAX_DEPTH:
            return
        params, deps, body = recipes[name]
        for dep in deps:
            run(dep, [], depth + 1)
        named = dict(zip(params, values, strict=False))
        if params and len(values) > len(params):
            named[params[-1]] = " ".join(values[len(params) - 1 :])
        lines = []
        for number, line in body:
            text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: named.get(str(m.group(1)), ""), line)
            lines.append((number, text))
        shebang = bool(lines) and lines[0][1].startswith("#!")
        ignore = {n for n, text in lines if text.startswith("-")}
        lines = [(n, text.lstrip("@-")) for n, text in lines]
        inner = _Context(ctx.root, not shebang, dict(cmd.env), ctx.step, ctx.depth + 1, ctx.seen)
        for found in _block(lines, rel, inner, [], {}, str(path.parent)):
            found.can_fail = found.can_fail and found.line not in ignore
            out.append(found)

    if not words:
        run(order[0] if order else "", [], 0)
    else:
        run(words[0], words[1:], 0)
    return out
