"""Features shared by the classical estimators, and the small helpers they all use.

Every feature maps uint8 gray images ``(N, 1, H, W)`` to a float32 NumPy matrix ``(N, D)``:

- ``raw``: the image downsampled (antialiased) to ``RAW_SIZE`` and standardised per image (zero
  mean, unit variance), so a global gain/offset of the lighting does not move the feature.
- ``grid15``: Lu et al.'s feature: intensity sums over a 3 x 5 grid of the eye image, divided by
  the sum over the whole image (the 15 values sum to 1). A black image gives the area fractions,
  the limit of a constant image.
- ``hog``: histograms of oriented gradients (Dalal and Triggs): 6 x 6 px cells, 9 unsigned
  orientation bins with linear vote interpolation, 2 x 2-cell blocks at a one-cell stride,
  L2-Hys block normalisation; 1620 values at 36 x 60.

:func:`estimate_pupil` finds the pupil centre in an image (for the cascaded k-NN when no
landmarks are given), and :func:`resolve_seed` turns an optional seed into a concrete one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

RAW_SIZE: tuple[int, int] = (18, 30)
HOG_CELL, HOG_BINS, HOG_BLOCK = 6, 9, 2


def _gray_float(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"{what} must be a gray (N, 1, H, W) tensor; call Estimator.prepare() first, "
                         f"got {tuple(getattr(images, 'shape', ()))}")
    return images.to(torch.float64)


def raw_pixels(images: torch.Tensor, size: tuple[int, int] = RAW_SIZE) -> np.ndarray:
    """Downsampled pixels, standardised per image: ``(N, size[0] * size[1])``."""
    x = _gray_float(images)
    if tuple(x.shape[2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    x = x.flatten(1)
    x = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp_min(1e-6)
    return x.to(torch.float32).numpy()


def _edges(n: int, parts: int) -> list[int]:
    # integer cell borders that split n pixels into `parts` nearly equal runs (exact when divisible)
    return [round(i * n / parts) for i in range(parts + 1)]


def grid_feature(images: torch.Tensor, rows: int = 3, cols: int = 5) -> np.ndarray:
    """Lu et al.'s normalised grid feature: ``(N, rows * cols)``, each row sums to 1.

    Each value is the sum of the intensities in one cell (row-major) divided by the sum over the
    image. A black image has no intensity to share out and gets the cells' area fractions.
    """
    x = _gray_float(images)[:, 0]
    h, w = x.shape[1:]
    if h < rows or w < cols:
        raise ValueError(f"grid feature needs images of at least {rows}x{cols} px, got {h}x{w}")
    ye, xe = _edges(h, rows), _edges(w, cols)
    sums = torch.stack([x[:, ye[r]:ye[r + 1], xe[c]:xe[c + 1]].sum((1, 2))
                        for r in range(rows) for c in range(cols)], 1)
    areas = torch.tensor([(ye[r + 1] - ye[r]) * (xe[c + 1] - xe[c]) for r in range(rows) for c in range(cols)],
                         dtype=torch.float64)
    total = sums.sum(1, keepdim=True)
    out = torch.where(total > 0, sums / total.clamp_min(1e-12), (areas / areas.sum()).expand_as(sums))
    return out.to(torch.float32).numpy()


def hog_feature(images: torch.Tensor, cell: int = HOG_CELL, bins: int = HOG_BINS,
                block: int = HOG_BLOCK) -> np.ndarray:
    """Histograms of oriented gradients, ``(N, by * bx * block * block * bins)``.

    Centred differences, unsigned orientation (0-180 degrees) voted linearly into the two nearest
    of ``bins`` bins, summed over ``cell`` x ``cell`` px cells (pixels beyond the last whole cell
    are dropped), then each ``block`` x ``block`` group of cells, at a one-cell stride, is
    L2-normalised, clipped at 0.2 and renormalised (L2-Hys).
    """
    x = _gray_float(images)[:, 0]
    n, h, w = x.shape
    cy, cx = h // cell, w // cell
    if cy < block or cx < block:
        raise ValueError(f"HOG needs images of at least {block * cell}x{block * cell} px, got {h}x{w}")
    gx = torch.zeros_like(x)
    gy = torch.zeros_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gy[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    mag = torch.sqrt(gx ** 2 + gy ** 2)
    ang = torch.rad2deg(torch.atan2(gy, gx)) % 180.0
    pos = ang / (180.0 / bins) - 0.5  # bin centres at (i + 0.5) * width
    lo = torch.floor(pos)
    frac = pos - lo
    lo_i = lo.long() % bins
    hi_i = (lo_i + 1) % bins
    hist = torch.zeros(n, bins, h, w, dtype=torch.float64)
    hist.scatter_add_(1, lo_i[:, None], (mag * (1 - frac))[:, None])
    hist.scatter_add_(1, hi_i[:, None], (mag * frac)[:, None])
    cells = F.avg_pool2d(hist[:, :, :cy * cell, :cx * cell], cell) * (cell * cell)  # (n, bins, cy, cx)
    by, bx = cy - block + 1, cx - block + 1
    blocks = torch.stack([cells[:, :, i:i + by, j:j + bx] for i in range(block) for j in range(block)], 1)
    blocks = blocks.permute(0, 3, 4, 1, 2).reshape(n, by * bx, block * block * bins)
    blocks = blocks / torch.sqrt((blocks ** 2).sum(-1, keepdim=True) + 1e-6)
    blocks = blocks.clamp(max=0.2)
    blocks = blocks / torch.sqrt((blocks ** 2).sum(-1, keepdim=True) + 1e-6)
    return blocks.reshape(n, -1).to(torch.float32).numpy()


FEATURES: dict[str, Callable[[torch.Tensor], np.ndarray]] = {
    "raw": raw_pixels, "grid15": grid_feature, "hog": hog_feature,
}


def check_feature(name: str, owner: str) -> None:
    """Raise a one-line error unless ``name`` is a known feature."""
    if name not in FEATURES:
        raise ValueError(f"estimator {owner!r}: unknown feature {name!r}; choose one of "
                         f"{', '.join(FEATURES)} (e.g. -o {owner}.feature=hog)")


def extract(name: str, images: torch.Tensor) -> np.ndarray:
    """The feature ``name`` of gray uint8 images ``(N, 1, H, W)`` as float32 ``(N, D)``."""
    check_feature(name, "?")
    return FEATURES[name](images)


def estimate_pupil(images: torch.Tensor) -> torch.Tensor:
    """Pupil centres ``(N, 2)`` (x, y) px, found as the darkest blob of each image.

    A coarse blur (a box as wide as the image is high) is subtracted first so that a lighting
    ramp does not move the centre; the centre is the intensity-weighted centroid of the pixels
    within 25 % of the darkest value, read on the high-passed image. It needs no landmarks, so
    it works the same on synthetic and real images.
    """
    x = _gray_float(images).to(torch.float32)
    n, _, h, w = x.shape
    fine = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    k = max(3, h | 1)
    coarse = F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, 1)
    hp = (fine - coarse)[:, 0]
    flat = hp.flatten(1)
    lo = flat.min(1).values.view(n, 1, 1)
    spread = (flat.median(1).values.view(n, 1, 1) - lo).clamp_min(1e-3)
    weight = (1.0 - (hp - lo) / (0.25 * spread)).clamp_min(0.0)
    total = weight.sum((1, 2)).clamp_min(1e-9)
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    return torch.stack([(weight * xs).sum((1, 2)) / total, (weight * ys).sum((1, 2)) / total], 1)


def resolve_seed(seed: int | None) -> int:
    """``seed`` itself, or (``None``) one drawn from torch's global generator, which
    ``gazebench run --seed`` seeds before each estimator is built."""
    if seed is not None:
        return int(seed)
    return int(torch.randint(0, 2**31 - 1, (1,)).item())


def head_pose_matrix(batch, owner: str) -> np.ndarray:
    """``batch.head_pose`` as float32 ``(N, 2)``, or a one-line error naming ``owner``."""
    if batch.head_pose is None:
        raise ValueError(f"estimator {owner!r} was fitted with head pose but this batch has none; "
                         f"refit with -o {owner}.head_pose=false")
    return batch.head_pose.to(torch.float32).cpu().numpy()
