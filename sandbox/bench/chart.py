"""The scaling chart (PNG, matplotlib)."""

from __future__ import annotations

from pathlib import Path


def scaling_chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    scales = [r["scale"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for task in ("bronze", "silver", "gold", "warehouse"):
        axes[0].plot(scales, [r["tasks"][task] for r in rows], marker="o", label=task)
    axes[0].set(title="time per task (s)", xlabel="scale", xscale="log")
    axes[0].legend()
    axes[1].plot(scales, [r["peak_mb"] for r in rows], marker="o", label="peak memory")
    axes[1].plot(
        scales, [rows[0]["peak_mb"] * s / scales[0] for s in scales], ls="--", label="linear growth"
    )
    axes[1].set(title="demo peak memory (MB)", xlabel="scale", xscale="log", yscale="log")
    axes[1].legend()
    for layer in ("raw", "bronze", "silver", "gold"):
        axes[2].plot(scales, [r["sizes_mb"][layer] for r in rows], marker="o", label=layer)
    axes[2].set(title="size on S3 per layer (MB)", xlabel="scale", xscale="log", yscale="log")
    axes[2].legend()
    # Growth from the first scale: a layer under the data's line grows slower than its input.
    first = rows[0]
    for task in ("bronze", "silver", "gold"):
        base = max(first["tasks"][task], 0.01)
        axes[3].plot(scales, [r["tasks"][task] / base for r in rows], marker="o", label=task)
    raw = max(first["sizes_mb"]["raw"], 0.01)
    axes[3].plot(
        scales, [r["sizes_mb"]["raw"] / raw for r in rows], ls="--", color="black", label="data"
    )
    axes[3].set(
        title=f"growth from scale {scales[0]:g} (x)", xlabel="scale", xscale="log", yscale="log"
    )
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
