"""Charts for the offline report: matplotlib figures inlined as SVG, nothing to fetch.

Each chart is a ``<figure>`` with an id, a caption and an ``<svg>`` element. The SVG
is stripped of its XML prolog, namespaces and metadata links, so the report holds no
URL at all and opens with the network off.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2"]
SIZE = (7.2, 2.6)  # inches; at 100 dpi the 720 px column of the report

_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)


def _short(value: float, _pos: object = None) -> str:
    return f"{value / 1000:.1f}k" if abs(value) >= 1000 else f"{value:.3g}"


def _svg(fig) -> str:
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "sandbox-report"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1))
    return _NAMESPACES.sub("", svg)


def _axes(title: str):
    fig, ax = plt.subplots(figsize=SIZE)
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e7eb")
    ax.set_axisbelow(True)
    ax.yaxis.set_major_formatter(FuncFormatter(_short))
    ax.tick_params(labelsize=8)
    return fig, ax


def _figure(chart_id: str, title: str, body: str) -> str:
    return (
        f'<figure class="chart" id="{chart_id}"><figcaption>{html.escape(title)}</figcaption>'
        f"{body}</figure>"
    )


def line_chart(chart_id: str, title: str, labels: Sequence[str], series: dict[str, list]) -> str:
    """One line per series over the same x labels (dates or months)."""
    if not labels:
        return _figure(chart_id, title, "<p>No data yet.</p>")
    fig, ax = _axes(title)
    xs = range(len(labels))
    for k, (name, values) in enumerate(series.items()):
        ax.plot(
            xs,
            [float(v or 0) for v in values],
            color=PALETTE[k % len(PALETTE)],
            linewidth=1.8,
            label=name,
        )
    ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _p: labels[int(x)] if 0 <= int(x) < len(labels) else "")
    )
    ax.set_ylim(bottom=0)
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False)
    return _figure(chart_id, title, _svg(fig))


def bar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence) -> str:
    """One bar per label."""
    if not labels:
        return _figure(chart_id, title, "<p>No data yet.</p>")
    fig, ax = _axes(title)
    ax.bar(range(len(labels)), [float(v or 0) for v in values], color=PALETTE[0], width=0.7)
    ax.set_xticks(
        range(len(labels)),
        labels,
        rotation=30 if len(labels) > 6 else 0,
        ha="right" if len(labels) > 6 else "center",
    )
    return _figure(chart_id, title, _svg(fig))
