"""PNG figures of a run: cumulative error curves (the paper's Fig. 7) and a sample grid.

matplotlib with the Agg backend (no screen needed); every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from gazebench.io import atomic_path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cumulative_curves(record: dict[str, Any], path: str | Path) -> Path:
    """One panel per estimator and training set: fraction of test images under each error, raw vs each purifier."""
    plt = _pyplot()
    rows = record["rows"]
    groups = list(dict.fromkeys((r["estimator"], r["train"]) for r in rows))
    ncols = min(4, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    noop = {s["purifier"] for s in record.get("purifiers", []) if s.get("noop")}  # the raw curve already
    for ax, (est, train) in zip(axes.flat, groups):
        mine = [r for r in rows if (r["estimator"], r["train"]) == (est, train)]
        xs, ys = zip(*mine[0]["raw_curve"])
        ax.plot(xs, ys, color="black", lw=2, label=f"raw ({mine[0]['raw_mean_deg']:.1f} deg)")
        for r in mine:
            if r["purifier"] in noop:
                continue
            xs, ys = zip(*r["purified_curve"])
            ax.plot(xs, ys, lw=1.5, label=f"{r['purifier']} ({r['purified_mean_deg']:.1f} deg)")
        ax.set_title(f"{est} (train {mine[0]['train']}, test {mine[0]['test']})", fontsize=9)
        ax.set_xlabel("angular error (deg)")
        ax.set_ylabel("fraction of test images")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def sample_grid(columns: Sequence[tuple[str, Any]], path: str | Path, n: int = 8) -> Path:
    """Rows of test eyes; columns e.g. raw | purified by each purifier | paired synthetic (oracle).

    ``columns`` holds ``(title, uint8 tensor (N, C, H, W))`` pairs of the same eyes.
    """
    plt = _pyplot()
    n = min(n, min(len(imgs) for _, imgs in columns))
    fig, axes = plt.subplots(n, len(columns), figsize=(1.9 * len(columns), 1.25 * n), squeeze=False)
    for j, (title, imgs) in enumerate(columns):
        for i in range(n):
            img = imgs[i].detach().cpu()
            ax = axes[i][j]
            if img.shape[0] == 1:
                ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
