"""MkDocs hooks (``hooks:`` in ``mkdocs.yml``): fill the generated parts of the pages."""

from __future__ import annotations

from typing import Any

from sandbox.docs_site.settings_table import settings_table

MARKERS = {"<!-- settings-table -->": settings_table}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, render in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
