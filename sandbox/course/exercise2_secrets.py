"""Exercise 2's secret scan: no credential is written in the workflow side of the repository.

:func:`check_no_secrets` reads ``.github/``, shell scripts, ``.env`` files, Makefile,
justfile, dbt ``profiles.yml`` and every file a workflow job calls, for known token
shapes (AWS keys, private keys, GitHub/Slack/API tokens) and ``password: literal``
assignments; placeholders, templated values and the throwaway services' passwords pass.
"""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.course.catalogue import t
from sandbox.course.checks import Check
from sandbox.course.workflow_model import load_repository

__all__ = ["check_no_secrets"]

_SECRET_PATTERNS = [
    ("AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\b(ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}|github_pat_\w{30,}")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
]
_SECRET_KEY = re.compile(
    r"""(?:^|[\s"'{,])(?P<key>[\w.-]*(password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key)[\w-]*)"""
    r"""["']?\s*[:=]\s*(?P<value>"[^"]*"|'[^']*'|[^\s#'"]+)""",
    re.IGNORECASE,
)
# Passwords of the throwaway services a CI job starts are no secret.
_PLACEHOLDERS = {"postgres", "password", "sandbox", "test", "ci", "dbt", "example", "root", "admin"}
_SKIP = {".git", "target", "logs", "dbt_packages", ".venv", "node_modules", "__pycache__"}


def _scanned(root: Path) -> list[Path]:
    """The workflow side of the repository: .github/, scripts, recipes, dbt profiles."""
    called = {c.file for j in load_repository(root).jobs() for c in j.commands}
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or _SKIP & set(rel.parts) or path.stat().st_size > 200_000:
            continue
        if path.name.endswith((".example", ".sample", ".template")):
            continue
        if (
            rel.parts[0] == ".github"
            or path.suffix in {".sh", ".bash", ".env"}
            or path.name.startswith(".env")
            or path.name in {"Makefile", "justfile", "Justfile", "profiles.yml"}
            or rel.as_posix() in called
        ):
            out.append(path)
    return out


# dbt's env_var with a default: `env_var('DBT_PASSWORD', 'the password')` writes the
# password in the file as surely as `password: the password` does
_ENV_DEFAULT = re.compile(
    r"env_var\(\s*['\"](?P<var>[^'\"]+)['\"]\s*,\s*['\"](?P<value>[^'\"]*)['\"]"
)
_SECRET_NAME = re.compile(r"pass|secret|token|key", re.I)


def _literal(value: str) -> bool:
    value = value.strip("\"'")
    if not value or value.lower() in _PLACEHOLDERS or len(value) < 6:
        return False
    if re.search(r"sandbox|example|dummy|fake|placeholder|changeme|xxx", value, re.I):
        return False
    if (
        "${{" in value
        or "{{" in value
        or value.startswith(("$", "<", "%", "arn:"))
        or "env_var" in value
    ):
        return False
    return not re.fullmatch(r"[A-Z_]+|true|false|null|none|required|write|read", value, re.I)


def check_no_secrets(root: Path) -> Check:
    name = "no secrets"
    files = _scanned(root)
    for path in files:
        rel = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for what, pattern in _SECRET_PATTERNS:
                if pattern.search(line):
                    return Check(
                        name, False, t("ex2.secret.found", where=f"{rel}:{number}", what=what)
                    )
            if not line.lstrip().startswith("#"):
                for default in _ENV_DEFAULT.finditer(line):
                    named = _SECRET_NAME.search(default.group("var") + line.split(":")[0])
                    if named and _literal(default.group("value")):
                        what = f"env_var('{default.group('var')}', <a literal default>)"
                        return Check(
                            name, False, t("ex2.secret.found", where=f"{rel}:{number}", what=what)
                        )
            match = _SECRET_KEY.search(line)
            if match and _literal(match.group("value")) and not line.lstrip().startswith("#"):
                where = f"{rel}:{number}"
                return Check(
                    name, False, t("ex2.secret.found", where=where, what=match.group("key"))
                )
    return Check(name, True, t("ex2.secret.ok", count=len(files)))
