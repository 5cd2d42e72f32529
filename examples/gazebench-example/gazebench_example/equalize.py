"""The ``equalize`` purifier: per-image, per-channel histogram equalisation."""

from __future__ import annotations

import torch

from gazebench.api import Purifier
from gazebench.types import EyeBatch


def equalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8, each channel of each image mapped through its own CDF."""
    n, c, h, w = images.shape
    flat = images.reshape(n * c, h * w).long()
    hist = torch.zeros(n * c, 256, dtype=torch.float64).scatter_add_(
        1, flat, torch.ones_like(flat, dtype=torch.float64))
    cdf = hist.cumsum(1)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float("inf"))).min(1, keepdim=True).values
    denom = (h * w - cdf_min).clamp(min=1)
    lut = ((cdf - cdf_min) / denom * 255).round().clamp(0, 255).to(torch.uint8)
    return lut.gather(1, flat).reshape(n, c, h, w)


class EqualizePurifier(Purifier):
    """Per-image histogram equalisation (example third-party plugin)."""

    def __init__(self) -> None:
        pass

    def purify(self, batch: EyeBatch) -> torch.Tensor:
        return equalize(batch.images)
