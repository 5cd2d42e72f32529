"""``reinhard``: colour statistics transfer in Lab (Reinhard et al. 2001), a cheap honest baseline.

Each image's per-channel Lab mean and standard deviation are moved to the style set's (the mean
over style images of their per-image statistics): ``(x - mu_x) / sd_x * sd_s + mu_s``. Gray
images become gray RGB (a = b = 0), are transferred, and are converted back to gray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from gazebench.api import Purifier
from gazebench.io import load_state, save_state
from gazebench.types import EyeBatch
from gazebench_plugins.purifiers.common import rgb_float, to_uint8


def _lab_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, H, W) -> Lab per-image means and stds, each (N, 3)."""
    import kornia.color

    lab = kornia.color.rgb_to_lab(rgb_float(images) / 255.0)
    flat = lab.reshape(lab.shape[0], 3, -1)
    return flat.mean(-1), flat.std(-1, unbiased=False)


class ReinhardPurifier(Purifier):
    """Lab colour statistics transfer towards the style set (Reinhard et al.).

    Args:
        eps: floor on an image's standard deviation (flat channels, e.g. a and b of gray images).
        strength: blend between the input (0) and the full transfer (1).
    """

    needs_fit = True
    test_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, eps: float = 1e-3, strength: float = 1.0) -> None:
        self.eps, self.strength = eps, strength

    def fit(self, content: EyeBatch, style: EyeBatch) -> "ReinhardPurifier":
        """Learn the style set's Lab statistics (``content`` is not needed)."""
        mean, std = _lab_stats(style.images)
        self.mean_, self.std_ = mean.mean(0), std.mean(0)
        return self

    def purify(self, batch: EyeBatch) -> torch.Tensor:
        """Purified uint8 images of ``batch.images``' shape."""
        import kornia.color

        if getattr(self, "mean_", None) is None:
            raise ValueError("purifier 'reinhard' is not fitted: call fit(content, style) or load(path) first")
        outs = []
        for i in range(0, len(batch), 256):
            imgs = batch.images[i:i + 256]
            lab = kornia.color.rgb_to_lab(rgb_float(imgs) / 255.0)
            mu, sd = _lab_stats(imgs)
            moved = ((lab - mu[..., None, None]) / sd.clamp_min(self.eps)[..., None, None]
                     * self.std_.view(1, 3, 1, 1) + self.mean_.view(1, 3, 1, 1))
            lab = lab + self.strength * (moved - lab)
            rgb = kornia.color.lab_to_rgb(lab, clip=True) * 255.0
            outs.append(to_uint8(rgb, batch.channels))
        return torch.cat(outs)

    def save(self, path: str | Path) -> None:
        """Write the learned Lab statistics."""
        if getattr(self, "mean_", None) is None:
            raise ValueError("purifier 'reinhard' is not fitted: nothing to save")
        save_state(path, {"class": type(self).__qualname__, "mean": self.mean_, "std": self.std_})

    def load(self, path: str | Path) -> "ReinhardPurifier":
        """Read statistics written by :meth:`save`."""
        state = load_state(path)
        if state.get("class") != type(self).__qualname__:
            raise ValueError(f"checkpoint {path} holds a {state.get('class')!r}, not a ReinhardPurifier")
        self.mean_, self.std_ = state["mean"], state["std"]
        return self

    def record_notes(self) -> list[str]:
        if getattr(self, "mean_", None) is None:
            return []
        m, s = self.mean_.tolist(), self.std_.tolist()
        return [f"reinhard: Lab target mean ({m[0]:.1f}, {m[1]:.1f}, {m[2]:.1f}), "
                f"std ({s[0]:.1f}, {s[1]:.1f}, {s[2]:.1f})"]
