"""Image operations shared by plugins: one histogram equalisation.

Two conventions of the same per-image histogram CDF are used in the project:

- ``"opencv"``: OpenCV's ``equalizeHist`` (MPIIGaze's pre-processing): a lookup table
  ``round((cdf - cdf_min) / (N - cdf_min) * 255)`` applied to each image's luma; RGB keeps its
  chroma ratios. Values stay in [0, 255] (float).
- ``"fraction"``: each pixel becomes the fraction of its image's pixels at or below its value,
  float32 in (0, 1]: a network input invariant to any increasing change of intensities.
"""

from __future__ import annotations

from typing import Literal

import torch

_LUMA = (0.299, 0.587, 0.114)  # BT.601, as gazebench.types.to_gray


def _counts_cdf(values: torch.Tensor) -> torch.Tensor:
    """(N, P) integer values in [0, 255] -> (N, 256) cumulative counts (float32)."""
    hist = torch.zeros(values.shape[0], 256, dtype=torch.float32)
    hist.scatter_add_(1, values, torch.ones_like(values, dtype=torch.float32))
    return hist.cumsum(1)


def equalize(images: torch.Tensor, mode: Literal["opencv", "fraction"] = "opencv") -> torch.Tensor:
    """Per-image histogram equalisation of (N, C, H, W) integer-valued images (uint8 or float).

    ``mode="opencv"``: float images of equalised luma (gray in, gray out; RGB scaled by the luma
    ratio). ``mode="fraction"``: float32 CDF values in (0, 1] over all of an image's values.
    """
    n, c, h, w = images.shape
    if mode == "fraction":
        flat = images.reshape(n, -1).long()
        return (_counts_cdf(flat) / flat.shape[1]).gather(1, flat).reshape(images.shape)
    if mode != "opencv":
        raise ValueError(f"equalize mode {mode!r}: expected 'opencv' or 'fraction'")
    img = images.float()
    y = img[:, 0] if c == 1 else torch.einsum("nchw,c->nhw", img, torch.tensor(_LUMA))
    yi = y.round().clamp(0, 255).long().view(n, -1)
    hist_pos = torch.zeros(n, 256).scatter_add_(1, yi, torch.ones_like(yi, dtype=torch.float32)) > 0
    cdf = _counts_cdf(yi)
    cmin = torch.where(hist_pos, cdf, torch.full_like(cdf, float(h * w))).min(1, keepdim=True).values
    lut = ((cdf - cmin) / (h * w - cmin).clamp(min=1) * 255).round().clamp(0, 255)
    y_eq = lut.gather(1, yi).view(n, h, w)
    if c == 1:
        return y_eq.unsqueeze(1)
    return (img * (y_eq / y.clamp(min=0.5)).unsqueeze(1)).round().clamp(0, 255)


__all__ = ["equalize"]
