"""Pictures drawn from the code's own definitions, as SVG the docs site inlines.

* the pipeline DAG, from :data:`sandbox.orchestrate.pipeline.TASKS`;
* a state machine, from its ASL file (``aws/stepfunctions/*.asl.json``);
* the lineage from raw to the warehouse, from the silver tables' and gold marts'
  declarations (each ``build`` is called with a mapping that records what it reads).

No layout engine is needed (nothing to install): nodes go in columns by their longest
path from a source, in declaration order within a column.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from sandbox.platform.settings import PROJECT_ROOT

Edge = tuple[str, str, str]  # source, target, style ("" or "dashed")

_CHAR_W, _NODE_H, _GAP_X, _GAP_Y, _PAD = 7.2, 28, 56, 14, 12
_FILL = {
    "": "#eef2ff",
    "raw": "#f3f4f6",
    "bronze": "#fde7c7",
    "silver": "#e5e7eb",
    "gold": "#fde68a",
    "warehouse": "#dbeafe",
    "end": "#dcfce7",
    "fail": "#fee2e2",
}


def layered_svg(
    nodes: Iterable[str],
    edges: Iterable[Edge],
    *,
    kinds: Mapping[str, str] | None = None,
    title: str = "",
) -> str:
    """An SVG of the graph, left to right; ``kinds`` picks each node's colour."""
    order = list(dict.fromkeys(nodes))
    links = [e for e in edges if e[0] in order and e[1] in order]
    column = {n: 0 for n in order}
    for _ in order:  # longest path from a source (a cycle, a Retry loop, is capped)
        for src, dst, _style in links:
            if src != dst and column[dst] <= column[src] and column[src] < len(order):
                column[dst] = column[src] + 1
    columns: dict[int, list[str]] = {}
    for n in order:
        columns.setdefault(column[n], []).append(n)
    width = {n: max(60.0, len(n) * _CHAR_W + 2 * _PAD) for n in order}
    x, pos = 10.0, {}
    for c in sorted(columns):
        for row, n in enumerate(columns[c]):
            pos[n] = (x, 26.0 + row * (_NODE_H + _GAP_Y))  # room above for a Retry loop
        x += max(width[n] for n in columns[c]) + _GAP_X
    total_w = x - _GAP_X + 10
    total_h = 36 + max(len(v) for v in columns.values()) * (_NODE_H + _GAP_Y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
        f'role="img" aria-label="{escape(title)}" style="max-width:100%;font:12px sans-serif">',
        "<defs><marker id='a' viewBox='0 0 8 8' refX='8' refY='4' markerWidth='7' "
        "markerHeight='7' orient='auto'><path d='M0,0 L8,4 L0,8 z' fill='#555'/></marker></defs>",
    ]
    for src, dst, style in links:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        dash = ' stroke-dasharray="4 3"' if style == "dashed" else ""
        if src == dst:  # a retry: a loop over the node
            cx = x1 + width[src] / 2
            out.append(
                f'<path d="M{cx - 8:.0f},{y1:.0f} C{cx - 20:.0f},{y1 - 14:.0f} '
                f'{cx + 20:.0f},{y1 - 14:.0f} {cx + 8:.0f},{y1:.0f}" fill="none" '
                f'stroke="#555"{dash} marker-end="url(#a)"/>'
            )
            continue
        out.append(
            f'<line x1="{x1 + width[src]:.0f}" y1="{y1 + _NODE_H / 2:.0f}" x2="{x2:.0f}" '
            f'y2="{y2 + _NODE_H / 2:.0f}" stroke="#555"{dash} marker-end="url(#a)"/>'
        )
    for n in order:
        nx, ny = pos[n]
        fill = _FILL.get((kinds or {}).get(n, ""), _FILL[""])
        out.append(
            f'<rect x="{nx:.0f}" y="{ny:.0f}" width="{width[n]:.0f}" height="{_NODE_H}" rx="6" '
            f'fill="{fill}" stroke="#6b7280"/><text x="{nx + width[n] / 2:.0f}" '
            f'y="{ny + _NODE_H / 2 + 4:.0f}" text-anchor="middle">{escape(n)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def pipeline_svg() -> str:
    """The pipeline's tasks and what each waits for."""
    from sandbox.orchestrate.pipeline import TASKS

    edges = [(up, t.name, "") for t in TASKS for up in t.upstream]
    return layered_svg([t.name for t in TASKS], edges, title="the pipeline DAG")


def state_machine_svg(path: str | Path) -> str:
    """A state machine's top-level states and transitions, from its ASL file; a Catch is
    dashed, a Retry loops over its state."""
    definition = json.loads((PROJECT_ROOT / path).read_text())  # (an absolute path stays)
    states: dict[str, Any] = definition["States"]
    nodes, edges, kinds = ["Start", *states], [("Start", definition["StartAt"], "")], {}
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Choices", [])]
        edges += [(name, t, "") for t in targets if t]
        edges += [(name, c["Next"], "dashed") for c in state.get("Catch", [])]
        if state.get("Retry"):
            edges.append((name, name, "dashed"))
        if state.get("End") or state.get("Type") == "Succeed":
            kinds[name] = "end"
        if state.get("Type") == "Fail":
            kinds[name] = "fail"
    return layered_svg(nodes, edges, kinds=kinds, title=f"state machine {Path(path).name}")


class _Reads(dict):
    """A mapping that remembers every name read from it (a build's inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return None


def inputs(build: Any) -> list[str]:
    """The names ``build(frames)`` reads: its arguments are read before it runs on them."""
    frames = _Reads()
    with contextlib.suppress(Exception):  # it fails on the stand-in frames, after reading
        build(frames)
    return list(dict.fromkeys(frames.read))


def lineage_svg() -> str:
    """Raw to the warehouse: bronze tables, silver tables, gold marts, warehouse marts."""
    from sandbox.jobs.gold import GOLD_TABLES
    from sandbox.jobs.silver import SILVER_TABLES

    silver = {t.name for t in SILVER_TABLES}
    nodes, edges, kinds = ["raw (DMS, Firehose)"], [], {"raw (DMS, Firehose)": "raw"}
    for t in SILVER_TABLES:
        for name in inputs(t.build):
            source = name if name in silver else f"bronze.{name}"
            if source not in nodes:
                nodes.append(source)
                kinds[source] = "bronze"
                edges.append(("raw (DMS, Firehose)", source, ""))
            edges.append((source, t.name, ""))
        nodes.append(t.name)
        kinds[t.name] = "silver"
    for m in GOLD_TABLES:
        nodes.append(f"gold.{m.name}")
        kinds[f"gold.{m.name}"] = "gold"
        edges += [(s, f"gold.{m.name}", "") for s in inputs(m.build)]
    nodes.append("warehouse (schema gold)")
    kinds["warehouse (schema gold)"] = "warehouse"
    edges += [(f"gold.{m.name}", "warehouse (schema gold)", "") for m in GOLD_TABLES]
    return layered_svg(nodes, edges, kinds=kinds, title="lineage from raw to the warehouse")
