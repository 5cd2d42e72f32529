"""``threshold``: a classical, training-free pupil/iris/sclera detector.

Per image (gray, Gaussian-smoothed): a seed is the darkest sizeable connected component nearest
the centre under a low intensity quantile. Around it, Otsu's threshold splits iris (dark) from
sclera; the dark component at the seed is the iris blob, and Otsu inside it splits off the
pupil. Each blob is replaced by the ellipse with its second moments (moments-based ellipse fit),
the iris grown to contain the pupil. The sclera is what is brighter than Otsu's threshold among the remaining
pixels, kept where it touches the iris' neighbourhood. Everything else is skin.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from gazebench.api import Segmenter
from gazebench.types import to_gray


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=64)
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centers)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * (1 - w0))
    return float(centers[int(np.nanargmax(between))]) if np.isfinite(between).any() else float(values.mean())


def _moment_ellipse(blob: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The filled ellipse with the same centroid and second moments as ``blob`` (scaled)."""
    ys, xs = np.nonzero(blob)
    h, w = blob.shape
    if len(xs) < 3:
        return blob.copy()
    cx, cy = xs.mean(), ys.mean()
    cov = np.cov(np.stack([xs - cx, ys - cy])) + np.eye(2) * 1e-3
    # a uniform ellipse with semi-axes a, b has variances a^2/4, b^2/4
    inv = np.linalg.inv(cov * 4.0 * scale ** 2)
    gy, gx = np.mgrid[0:h, 0:w]
    d = np.stack([gx - cx, gy - cy], -1)
    return np.einsum("...i,ij,...j->...", d, inv, d) <= 1.0


def _component_at(mask: np.ndarray, prefer: tuple[float, float], gray: np.ndarray, min_size: int) -> np.ndarray:
    """The connected component of ``mask`` that is darkest and nearest ``prefer`` (x, y)."""
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(mask)
    best, best_score = 0, np.inf
    diag = float(np.hypot(*mask.shape))
    for i in range(1, n + 1):
        comp = lab == i
        size = int(comp.sum())
        if size < min_size:
            continue
        ys, xs = np.nonzero(comp)
        dist = np.hypot(xs.mean() - prefer[0], ys.mean() - prefer[1]) / diag
        score = float(gray[comp].mean()) / 255.0 + dist
        if score < best_score:
            best, best_score = i, score
    return lab == best if best else np.zeros_like(mask)


class ThresholdSegmenter(Segmenter):
    """Dark-blob pupil and iris detection with moment-ellipse fits; no training.

    Args:
        sigma: Gaussian smoothing (pixels at 60 px eye width; scaled with the width).
        seed_quantile: intensity quantile whose darkest central blob seeds the search.
        window: radius (fraction of the width) around the seed where iris and sclera are split
            by Otsu's threshold.
        min_blob: smallest blob, as a fraction of the image area.
    """

    test_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, sigma: float = 1.0, seed_quantile: float = 0.02, window: float = 0.3,
                 min_blob: float = 0.002) -> None:
        self.sigma, self.seed_quantile, self.window, self.min_blob = sigma, seed_quantile, window, min_blob

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> uint8 (N, H, W) labels (0 skin, 1 sclera, 2 iris, 3 pupil)."""
        from gazebench.types import validate_images

        validate_images(images, "images")
        gray = to_gray(images.cpu())[:, 0].numpy()
        return torch.from_numpy(np.stack([self._one(g) for g in gray]))

    def _one(self, img: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        h, w = img.shape
        g = ndimage.gaussian_filter(img.astype(np.float64), self.sigma * w / 60.0)
        min_size = max(2, int(self.min_blob * h * w))
        centre = ((w - 1) / 2, (h - 1) / 2)
        seed = _component_at(g <= np.quantile(g, self.seed_quantile), centre, g, min_size)
        out = np.zeros((h, w), np.uint8)
        # no dark blob (a flat or nearly flat image, or "dark" covering a quarter of it): all skin
        if not seed.any() or g.max() - g.min() < 10 or seed.sum() > 0.25 * h * w:
            return out
        ys, xs = np.nonzero(seed)
        pc = (xs.mean(), ys.mean())
        gy, gx = np.mgrid[0:h, 0:w]
        window = np.hypot(gx - pc[0], gy - pc[1]) <= self.window * w
        iris_blob = _component_at((g <= _otsu(g[window])) & window, pc, g, min_size) | seed
        inside = g[iris_blob]
        pupil_blob = _component_at((g <= _otsu(inside)) & iris_blob, pc, g, min_size) if inside.size > 8 else seed
        if not pupil_blob.any() or pupil_blob.sum() > 0.8 * iris_blob.sum():
            pupil_blob = seed
        pupil = _moment_ellipse(pupil_blob)
        iris = _moment_ellipse(iris_blob) | pupil
        rest = ~iris
        if rest.any():
            bright = (g > _otsu(g[rest])) & rest
            near = ndimage.binary_dilation(iris, iterations=max(1, w // 20))
            lab, n = ndimage.label(bright)
            keep = np.unique(lab[near & bright])
            sclera = np.isin(lab, keep[keep > 0])
            out[sclera] = 1
        out[iris] = 2
        out[pupil] = 3
        return out
