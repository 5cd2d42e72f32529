"""Metrics shared by the runner and plugins.

- :func:`pupil_centres`: where the pupil is in an image, given the region masks of the *original*
  image: the paper's "preserving ground truth" check compares it on raw and purified images.
- :func:`pupil_centroids`: the centroid of the pupil label of a label map (a segmenter's output).
"""

from __future__ import annotations

import torch


def pupil_centres(images: torch.Tensor, masks: torch.Tensor, grow: int = 2) -> torch.Tensor:
    """(N, 2) x, y: the darkness-weighted centroid inside the true iris region grown by ``grow`` px.

    Weights are ``max(0, median - I)`` over that window (gray ``I``), so pixels darker than the
    window's median count, whatever the global brightness: the pupil dominates. The window comes
    from the dataset's masks, identical for raw and purified images, so a shift of the centroid
    is a shift of the dark blob itself. NaN where the window is empty or flat.
    """
    import torch.nn.functional as F

    from gazebench.types import to_gray

    gray = to_gray(images.cpu()).double()[:, 0]
    n, h, w = gray.shape
    region = (masks.cpu() >= 2).double()[:, None]
    win = F.max_pool2d(region, 2 * grow + 1, 1, grow)[:, 0] > 0 if grow else region[:, 0] > 0
    xs = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    ys = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    out = torch.full((n, 2), float("nan"), dtype=torch.float64)
    for i in range(n):
        if not win[i].any():
            continue
        med = gray[i][win[i]].median()
        wt = (med - gray[i]).clamp_min(0) * win[i]
        if float(wt.sum()) > 0:
            out[i, 0] = (wt * xs[0]).sum() / wt.sum()
            out[i, 1] = (wt * ys[0]).sum() / wt.sum()
    return out


def pupil_centroids(labels: torch.Tensor) -> torch.Tensor:
    """(N, H, W) label maps -> (N, 2) centroid (x, y) of the pupil label 3; NaN where none."""
    pupil = (labels == 3).double()
    h, w = labels.shape[-2:]
    mass = pupil.sum((1, 2))
    xs = (pupil * torch.arange(w, dtype=torch.float64)).sum((1, 2)) / mass
    ys = (pupil * torch.arange(h, dtype=torch.float64).view(h, 1)).sum((1, 2)) / mass
    return torch.stack([xs, ys], 1)  # 0/0 = NaN marks "no pupil found"
