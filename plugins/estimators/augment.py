"""Photometric augmentation for the neural estimators (off by default: ``-o cnn.augment=true``).

Only intensities change, never geometry, so the gaze label of every image still holds: a
contrast gain and brightness offset, a gamma, a linear lighting ramp in a random direction, a
Gaussian blur, and sensor noise, each drawn per image from a seeded generator. It imitates the
gap between clean renders and webcam crops; it is not in the paper, which closes that gap by
purifying the test images instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    # separable Gaussian with a per-image sigma: a 7-tap kernel covers sigma <= 1.5
    taps = torch.arange(-3, 4, dtype=x.dtype)
    k = torch.exp(-0.5 * (taps.view(1, -1) / sigma.clamp_min(1e-3).view(-1, 1)) ** 2)
    k = k / k.sum(1, keepdim=True)
    n, c, h, w = x.shape
    y = F.pad(x.reshape(1, n * c, h, w), (3, 3, 3, 3), mode="replicate")
    kc = k.repeat_interleave(c, 0)
    y = F.conv2d(y, kc.view(n * c, 1, 1, 7), groups=n * c)
    y = F.conv2d(y, kc.view(n * c, 1, 7, 1), groups=n * c)
    return y.reshape(n, c, h, w)


def photometric(images: torch.Tensor, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Randomly relit, blurred and noisy copies of uint8 ``(N, C, H, W)`` images (uint8).

    ``strength`` scales every range (0 returns the images unchanged).
    """
    if strength <= 0:
        return images
    n, _, h, w = images.shape

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

    s = float(strength)
    x = images.to(torch.float32) / 255.0
    x = x.clamp_min(1e-4) ** torch.exp(u(-0.4 * s, 0.4 * s, 1, 1, 1))
    x = x * 255.0
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * u(1 - 0.4 * s, 1 + 0.4 * s, 1, 1, 1) + mean + u(-30 * s, 30 * s, 1, 1, 1)
    angle = u(0, 2 * math.pi)
    ys = torch.linspace(-0.5, 0.5, h).view(1, 1, h, 1)
    xs = torch.linspace(-0.5, 0.5, w).view(1, 1, 1, w)
    ramp = torch.cos(angle).view(n, 1, 1, 1) * xs + torch.sin(angle).view(n, 1, 1, 1) * ys
    x = x + ramp * u(0, 80 * s, 1, 1, 1)
    sigma = u(0, 1.5 * min(s, 1.0)) * (torch.rand(n, generator=gen) < 0.5)
    x = torch.where(sigma.view(n, 1, 1, 1) > 0.05, _blur(x, sigma), x)
    x = x + torch.randn(x.shape, generator=gen) * u(0, 8 * s, 1, 1, 1)
    return x.round().clamp(0, 255).to(torch.uint8)
