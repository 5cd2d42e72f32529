"""``unet``: a small U-Net trained on rendered masks, with augmentation towards wild conditions.

Gray input (colour is not needed to find a pupil and makes the net indifferent to it), an
encoder of ``depth`` stages (two 3x3 conv-BN-ReLU, then 2x2 max-pool), a bottleneck, a decoder
of transposed convs with skip connections, 4 logits per pixel, cross-entropy. Training images
are degraded on the fly (random gain and offset, a lighting ramp, blur, noise) so a net fitted
on clean renders still segments real-looking eyes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from gazebench.api import Segmenter
from gazebench.device import resolve_device
from gazebench.io import load_state, save_state
from gazebench.types import EyeBatch, to_gray, validate_images


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """A small U-Net: 1 channel in, ``classes`` logits out, any size (padded to 2**depth)."""

    def __init__(self, width: int = 16, depth: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.config = dict(width=width, depth=depth, classes=classes)
        chans = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([_double(1, chans[0])] + [_double(chans[i], chans[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[i + 1], chans[i], 2, 2) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([_double(2 * chans[i], chans[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chans[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** self.config["depth"]
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="replicate")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)[..., :h, :w]


def degrade(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Wild-condition augmentation of float gray images in [0, 255] (N, 1, H, W)."""
    n, _, h, w = x.shape

    def r(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen).to(x.device)

    gain = 0.5 + r(n, 1, 1, 1)
    offset = (r(n, 1, 1, 1) - 0.5) * 100
    angle = r(n, 1, 1, 1) * 2 * math.pi
    ys = torch.linspace(-0.5, 0.5, h, device=x.device).view(1, 1, h, 1)
    xs = torch.linspace(-0.5, 0.5, w, device=x.device).view(1, 1, 1, w)
    ramp = (r(n, 1, 1, 1) - 0.5) * 160 * (torch.cos(angle) * xs + torch.sin(angle) * ys)
    y = x * gain + offset + ramp
    blur = r(n) < 0.5
    if bool(blur.any()):
        y = torch.where(blur.view(n, 1, 1, 1), F.avg_pool2d(y, 3, 1, 1, count_include_pad=False), y)
    y = y + torch.randn(x.shape, generator=gen).to(x.device) * r(n, 1, 1, 1) * 15
    return y.clamp(0, 255)


class UNetSegmenter(Segmenter):
    """A small U-Net fitted on images with masks (the renderer's), usable on real eyes.

    Args:
        width, depth: channels of the first stage and number of pooling stages.
        iterations, batch_size, lr: Adam training length, batch and learning rate.
        augment: degrade training images towards wild conditions (:func:`degrade`).
        seed, device, progress: seed, torch device, progress bar.
    """

    needs_fit = True
    priority = 10  # far better than `threshold` on wild images (docs/method.md): the runner's auto choice
    test_params: ClassVar[dict[str, Any]] = dict(width=4, depth=2, iterations=3, batch_size=4, progress=False)

    def __init__(self, width: int = 16, depth: int = 3, iterations: int = 400, batch_size: int = 16,
                 lr: float = 2e-3, augment: bool = True, seed: int = 0, device: str = "cpu",
                 progress: bool = True) -> None:
        self.width, self.depth, self.iterations, self.batch_size = width, depth, iterations, batch_size
        self.lr, self.augment, self.seed, self.device, self.progress = lr, augment, seed, device, progress

    def fit(self, data: EyeBatch) -> "UNetSegmenter":
        """Train on ``data.images`` with ``data.masks``."""
        from gazebench.progress import progress as progress_bar

        if data.masks is None:
            raise ValueError("segmenter 'unet' is trained on masks and the training data has none: "
                             "fit it on a dataset with masks (synth, toy)")
        dev = torch.device(resolve_device(self.device))
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = UNet(self.width, self.depth).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        images = to_gray(data.images)
        net.train()
        self.history_ = []
        with progress_bar(self.iterations, "training unet segmenter", self.progress) as adv:
            for _ in range(self.iterations):
                idx = torch.randint(len(images), (self.batch_size,), generator=gen)
                x = images[idx].to(dev).float()
                if self.augment:
                    x = degrade(x, gen)
                loss = F.cross_entropy(net(x / 127.5 - 1.0), data.masks[idx].to(dev).long())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                self.history_.append(float(loss.detach()))
                adv(1, loss=self.history_[-1])
        self.net_ = net.eval()
        return self

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> uint8 (N, H, W) labels."""
        validate_images(images, "images")
        net = getattr(self, "net_", None)
        if net is None:
            raise ValueError("segmenter 'unet' is not fitted: call fit(batch with masks) or load(path) first")
        dev = next(net.parameters()).device
        outs = []
        with torch.no_grad():
            for i in range(0, len(images), 128):
                x = to_gray(images[i:i + 128]).to(dev).float() / 127.5 - 1.0
                outs.append(net(x).argmax(1).to(torch.uint8).cpu())
        return torch.cat(outs)

    def save(self, path: str | Path) -> None:
        """Write the trained network."""
        if getattr(self, "net_", None) is None:
            raise ValueError("segmenter 'unet' is not fitted: nothing to save")
        save_state(path, {"class": type(self).__qualname__, "config": dict(self.net_.config),
                          "net": {k: v.cpu() for k, v in self.net_.state_dict().items()}})

    def load(self, path: str | Path) -> "UNetSegmenter":
        """Read a network written by :meth:`save`."""

        state = load_state(path)
        if state.get("class") != type(self).__qualname__:
            raise ValueError(f"checkpoint {path} holds a {state.get('class')!r}, not a UNetSegmenter")
        net = UNet(**state["config"])
        net.load_state_dict(state["net"])
        self.net_ = net.to(torch.device(resolve_device(self.device))).eval()
        return self
