"""MkDocs hooks (``hooks:`` in ``mkdocs.yml``): fill the generated parts of the pages.

Markers a page may hold, each replaced when the site is built:

* ``<!-- settings-table -->``: every setting (:mod:`sandbox.docs_site.settings_doc`);
* ``<!-- graph:pipeline -->``, ``<!-- graph:lineage -->`` and
  ``<!-- graph:state-machine aws/stepfunctions/<name>.asl.json -->``: pictures drawn from
  the code's own definitions (:mod:`sandbox.docs_site.graphs`).
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.docs_site import graphs
from sandbox.docs_site.settings_doc import settings_table

_MARKER = re.compile(r"<!-- (settings-table|graph:[a-z-]+)(?: ([^ ]+))? -->")


def render(kind: str, argument: str | None) -> str:
    """What a marker stands for."""
    if kind == "settings-table":
        return settings_table()
    if kind == "graph:pipeline":
        return graphs.pipeline_svg()
    if kind == "graph:lineage":
        return graphs.lineage_svg()
    if kind == "graph:state-machine" and argument:
        return graphs.state_machine_svg(argument)
    raise ValueError(f"docs: unknown marker <!-- {kind} {argument or ''} -->")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return _MARKER.sub(lambda m: render(m.group(1), m.group(2)), markdown)
