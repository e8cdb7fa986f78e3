"""Every setting as a table: variable, type, default and what it does.

Names, types and defaults come from the settings model; what each does comes from the
comment block above the variable in ``.env.example`` (which a test keeps complete).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, get_args, get_origin

from pydantic import BaseModel, SecretStr

from sandbox.platform.settings import PROJECT_ROOT, Settings, env_name


def settings_table(example: Path = PROJECT_ROOT / ".env.example") -> str:
    """A Markdown table of every ``SANDBOX_*`` variable."""
    notes = _example_notes(example.read_text())
    rows = ["| variable | type | default | what it does |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if _is_model(annotation):
            for sub, subfield in annotation.model_fields.items():
                var = env_name((name, sub))
                rows.append(_row(var, subfield.annotation, subfield.default, notes.get(var, "")))
        else:
            var = env_name((name,))
            rows.append(_row(var, field.annotation, field.default, notes.get(var, "")))
    return "\n".join(rows) + "\n"


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _row(var: str, annotation: Any, default: Any, note: str) -> str:
    kind = _kind(annotation)
    if isinstance(default, SecretStr):
        shown = "(secret)"
    elif default is None:
        shown = "none"
    elif isinstance(default, Path):
        shown = f"`{default}`"
    else:
        shown = f"`{default}`" if default != "" else '`""`'
    cell = note.replace("|", "\\|")
    return f"| `{var}` | {kind} | {shown} | {cell} |"


def _kind(annotation: Any) -> str:
    """A type as a reader would say it: ``local`` or ``local-cluster``, number, secret."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{a}`" for a in get_args(annotation))
    if len(args) == 1 and get_origin(annotation) is not Annotated:  # X | None
        return _kind(args[0]) + ", optional"
    if get_origin(annotation) is Annotated:
        return _kind(args[0])
    names = {
        int: "integer",
        float: "number",
        bool: "true or false",
        str: "text",
        SecretStr: "secret",
        Path: "path",
    }
    if annotation in names:
        return names[annotation]
    if get_origin(annotation) is dict:
        return "JSON object"
    return getattr(annotation, "__name__", str(annotation))


def _example_notes(text: str) -> dict[str, str]:
    """Each variable of ``.env.example`` with the comment block right above it."""
    notes: dict[str, str] = {}
    comment: list[str] = []
    after_variable = False
    for line in text.splitlines():
        stripped = line.strip()
        var = re.match(r"#?\s*(SANDBOX_[A-Z0-9_]+)=", stripped)
        if var:
            notes[var.group(1)] = " ".join(comment)
            comment, after_variable = [], True  # a comment says what the next line is
        elif stripped.startswith("#"):
            if after_variable:  # a new block begins
                comment, after_variable = [], False
            comment.append(stripped.lstrip("#").strip())
        elif not stripped:
            comment, after_variable = [], False
    return notes
