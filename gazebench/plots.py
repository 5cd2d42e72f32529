"""The sample grid of a run (raw | purified... | oracle); the other figures are in gazebench.figures.

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
