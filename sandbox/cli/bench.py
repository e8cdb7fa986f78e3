"""The bench command: the benchmarks the project keeps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sandbox.cli.root import app, console, fail
from sandbox.platform import SandboxError

if TYPE_CHECKING:
    pass


@app.command(rich_help_panel="Benchmarks")
def bench(
    repeat: Annotated[int, typer.Option(help="Measurements per figure.")] = 3,
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Groups: install, stack, cli, dms, simulator, firehose, engines, demo, modes, "
            "inner, silver, reference, scaling, scale256, aws, airflow, course."
        ),
    ] = None,
    json_path: Annotated[
        Path, typer.Option("--json", help="Where to write the figures as JSON.")
    ] = Path("bench-results/bench.json"),
) -> None:
    """Measure the sandbox on a private home and free ports (never your running stack)."""
    from sandbox import bench as b

    groups = b.GROUPS
    chosen = only or [g for g in groups if g not in b.OPT_IN]
    unknown = set(chosen) - set(groups)
    if unknown:
        raise fail(
            SandboxError(
                f"unknown benchmark group(s) {sorted(unknown)}; choose from {sorted(groups)}"
            )
        )
    figures = []
    for name in chosen:
        console.print(f"[bold]{name}[/]")
        figures += groups[name](repeat=repeat, progress=lambda m: console.print(f"  {m}"))
    from rich.table import Table

    table = Table(title=f"sandbox bench ({b.machine()['cores']} cores)")
    for col in ("figure", "median", "spread", "samples", "target"):
        table.add_column(col)
    for f in figures:
        samples = ", ".join(f"{x:.2f}" for x in f.samples)
        table.add_row(f.name, f"{f.median:.2f} {f.unit}", f"{f.spread:.2f}", samples, f.target)
    console.print(table)
    b.write_results(figures, json_path)
    console.print(f"written to {json_path}")
