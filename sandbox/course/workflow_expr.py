"""The ``if:`` of a workflow job, evaluated for an event a grader asks about.

:func:`evaluate` reads a GitHub Actions expression ("Evaluate expressions in workflows
and actions", docs.github.com/en/actions): literals, ``github.*`` contexts of the
event, ``==``/``!=``, ``!``/``&&``/``||``, ``startsWith``/``endsWith``/``contains`` and
the status functions. What the event does not tell (``secrets``, ``vars``,
``github.actor``...) is unknown, and so may be the result.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["evaluate", "strip_expr"]


def strip_expr(expr: str) -> str:
    """``expr`` without the ``${{ }}`` around it."""
    expr = expr.strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2].strip()
    return expr


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||<=|>=|[!()<>,\[\]])"
    r"|(?P<name>[A-Za-z_][\w.\-*]*))"
)


def evaluate(expr: str, event: tuple[str, str, str]) -> bool | None:
    """An ``if:`` on ``event``: True, False, or None when it depends on what we do not know."""
    expr = strip_expr(expr)
    if not expr:
        return True
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            return None
        pos = match.end()
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
    name, ref, base = event
    context: dict[str, Any] = {
        "github.event_name": name, "github.ref": ref, "github.base_ref": base or None,
        "github.head_ref": "feature" if name == "pull_request" else None,
        "github.ref_name": ref.removeprefix("refs/heads/").removeprefix("refs/"),
        "github.ref_type": "branch", "true": True, "false": False, "null": None,
    }  # fmt: skip
    unknown = object()
    index = 0

    def peek() -> str:
        return tokens[index][1] if index < len(tokens) else ""

    def take() -> tuple[str, str]:
        nonlocal index
        index += 1
        return tokens[index - 1]

    def primary() -> Any:
        kind, value = take()
        if value == "(":
            result = either()
            take()
            return result
        if value == "!":
            inner = primary()
            return unknown if inner is unknown else not inner
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value)
        if kind == "name" and peek() == "(":
            take()
            args = []
            while peek() not in {")", ""}:
                args.append(either())
                if peek() == ",":
                    take()
            take()
            return call(value.lower(), args)
        return context.get(value, unknown)

    def call(fn: str, args: list[Any]) -> Any:
        if fn in {"success", "always"}:
            return True
        if fn in {"failure", "cancelled"}:
            return False
        if unknown in args or len(args) < 2:
            return unknown
        a, b = (str(x).lower() for x in args[:2])
        return {"startswith": a.startswith(b), "endswith": a.endswith(b), "contains": b in a}.get(
            fn, unknown
        )

    def compare() -> Any:
        left = primary()
        while peek() in {"==", "!=", "<", ">", "<=", ">="}:
            op = take()[1]
            right = primary()
            if left is unknown or right is unknown:
                left = unknown
            elif op in {"==", "!="}:
                same = str(left).lower() == str(right).lower()
                left = same if op == "==" else not same
            else:
                left = unknown
        return left

    def both() -> Any:
        left = compare()
        while peek() == "&&":
            take()
            right = compare()
            if (left is not unknown and not left) or (right is not unknown and not right):
                left = False
            elif left is unknown or right is unknown:
                left = unknown
            else:
                left = True
        return left

    def either() -> Any:
        left = both()
        while peek() == "||":
            take()
            right = both()
            if (left is not unknown and left) or (right is not unknown and right):
                left = True
            elif left is unknown or right is unknown:
                left = unknown
            else:
                left = False
        return left

    try:
        result = either()
    except (IndexError, ValueError):
        return None
    return None if result is unknown else bool(result)
