"""The course kit's messages, in English and Brazilian Portuguese, in one place.

Every text the checker and ``sandbox course`` print is a key of :data:`MESSAGES`, a
pair ``(English, pt-BR)`` with the same ``{placeholders}``; ``t(key, **values)`` picks
the language of the moment. The language is ``--lang`` when given, else the locale
(``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``pt*`` is pt-BR), else English.

The areas (``common``, ``exercise1``, ``exercise2``) are modules of this package so
that each exercise's texts sit together; a key lives in exactly one of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sandbox.course.catalogue import common, exercise1, exercise2

__all__ = [
    "LANGUAGES",
    "MESSAGES",
    "current_language",
    "language_from_locale",
    "parse_language",
    "speaking",
    "t",
]

LANGUAGES = ("en", "pt-BR")
_AREAS = (common.MESSAGES, exercise1.MESSAGES, exercise2.MESSAGES)


def _merge() -> dict[str, tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {}
    for area in _AREAS:
        twice = merged.keys() & area.keys()
        if twice:
            raise ValueError(f"course messages defined twice: {sorted(twice)}")
        merged.update(area)
    return merged


MESSAGES = _merge()
_language: ContextVar[str] = ContextVar("course_language", default="")


def language_from_locale(environ: dict[str, str] | None = None) -> str:
    """pt-BR when the locale is Portuguese (``LC_ALL``, ``LC_MESSAGES``, ``LANG``), else en."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            return "pt-BR" if value.lower().startswith("pt") else "en"
    return "en"


def parse_language(value: str) -> str:
    """``en``, ``pt``, ``pt-BR``, ``pt_BR`` (any case) -> a member of LANGUAGES."""
    key = value.strip().replace("_", "-").lower()
    if key in {"en", "en-us", "en-gb"}:
        return "en"
    if key in {"pt", "pt-br"}:
        return "pt-BR"
    raise ValueError(f"unknown language {value!r}; use one of {', '.join(LANGUAGES)}")


def current_language() -> str:
    """The language of the moment: the one of the enclosing ``speaking``, else the locale's."""
    return _language.get() or language_from_locale()


@contextmanager
def speaking(lang: str | None) -> Iterator[str]:
    """Messages in ``lang`` (None: the locale's) inside the block."""
    chosen = parse_language(lang) if lang else language_from_locale()
    token = _language.set(chosen)
    try:
        yield chosen
    finally:
        _language.reset(token)


def t(key: str, **values: object) -> str:
    """The message ``key`` in the current language, its placeholders filled."""
    en, pt = MESSAGES[key]
    return (pt if current_language() == "pt-BR" else en).format(**values)
