"""``toy`` and ``toy-wild``: a tiny, crude generated eye set for tests and smoke runs.

Flat discs on a flat face, orthographic: the iris centre sits at the eye centre plus
``R * (g_x, g_y)`` for gaze ``g`` (eyeball radius ``R`` = 0.3 W), so gaze is exactly
recoverable from the pupil position. ``toy-wild`` renders the *same* latent samples (pair id =
index) with a random gain/offset, a lighting gradient, blur and noise. This is not the embedded
renderer (``synth``); it exists so the core can be tested with no other plugin.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch

from gazebench.api import Dataset
from gazebench.geometry import pitchyaw_to_vector
from gazebench.types import EyeBatch, EyeData, EyeSample

_SPLIT_SEED = {"train": 0, "test": 1_000_003, "unlabelled": 2_000_029}
_DEFAULT_LEN = {"train": 2000, "test": 500, "unlabelled": 500}


class _ToyData(EyeData):
    def __init__(self, n: int, size: tuple[int, int], seed: int, wild: bool, split: str,
                 name: str) -> None:
        self.n, self.size, self.seed, self.wild, self.split = n, size, seed, wild, split
        self.info = {"name": name, "split": split, "size": list(size), "seed": seed,
                     "generated": True, "gray": True}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> EyeSample:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        b = self.batch([index])
        return EyeSample(image=b.images[0], gaze=b.gaze[0], head_pose=b.head_pose[0],
                         mask=b.masks[0], pupil=b.pupil[0], subject=int(b.subject[0]),
                         pair=int(b.pair[0]))

    def _latent(self, index: int) -> torch.Tensor:
        # one generator per sample: the same bytes whatever the batch
        g = torch.Generator().manual_seed(self.seed * 7919 + _SPLIT_SEED[self.split] + index)
        return torch.rand(8, generator=g, dtype=torch.float64)

    def batch(self, indices: Sequence[int]) -> EyeBatch:
        idx = [int(i) for i in indices]
        lat = torch.stack([self._latent(i) for i in idx])  # (N, 8) in [0, 1)
        n, (h, w) = len(idx), self.size
        pitch = (lat[:, 0] - 0.5) * math.radians(30)
        yaw = (lat[:, 1] - 0.5) * math.radians(50)
        gaze = pitchyaw_to_vector(torch.stack([pitch, yaw], 1))
        radius = 0.3 * w
        cx = (w - 1) / 2 + radius * gaze[:, 0]
        cy = (h - 1) / 2 + radius * gaze[:, 1]
        ys = torch.arange(h, dtype=torch.float64).view(1, h, 1)
        xs = torch.arange(w, dtype=torch.float64).view(1, 1, w)
        d = torch.sqrt((xs - cx.view(n, 1, 1)) ** 2 + (ys - cy.view(n, 1, 1)) ** 2)
        sclera = ((xs - (w - 1) / 2) / (0.45 * w)) ** 2 + ((ys - (h - 1) / 2) / (0.33 * h)) ** 2 <= 1
        iris_r = (0.12 + 0.02 * lat[:, 2]).view(n, 1, 1) * w
        pupil_r = iris_r * (0.35 + 0.2 * lat[:, 3]).view(n, 1, 1)
        masks = torch.zeros(n, h, w, dtype=torch.uint8)
        masks[sclera.expand(n, h, w)] = 1
        masks[sclera & (d <= iris_r)] = 2
        masks[sclera & (d <= pupil_r)] = 3
        palette = torch.tensor([170.0, 225.0, 105.0, 25.0], dtype=torch.float64)
        img = palette[masks.long()]
        if self.wild:
            gain = 0.5 + 0.9 * lat[:, 4].view(n, 1, 1)
            offset = (lat[:, 5].view(n, 1, 1) - 0.5) * 80
            ramp = (lat[:, 6].view(n, 1, 1) - 0.5) * 120 * (xs / max(w - 1, 1) - 0.5)
            img = img * gain + offset + ramp
            img = torch.nn.functional.avg_pool2d(img[:, None], 3, 1, 1, count_include_pad=False)[:, 0]
            noise = torch.stack([torch.randn(h, w, generator=torch.Generator().manual_seed(
                self.seed * 104729 + _SPLIT_SEED[self.split] + i), dtype=torch.float64) for i in idx])
            img = img + noise * (4 + 10 * lat[:, 7].view(n, 1, 1))
        images = img.round().clamp(0, 255).to(torch.uint8)[:, None]
        return EyeBatch(
            images=images, gaze=gaze.float(), head_pose=torch.zeros(n, 2),
            masks=masks, pupil=torch.stack([cx, cy], 1).float(),
            subject=torch.tensor([i % 5 for i in idx], dtype=torch.int64),
            pair=torch.tensor(idx, dtype=torch.int64), meta={"dataset": self.info["name"]})


class ToyEyes(Dataset):
    """Tiny generated eyes (flat discs), clean style: for tests and smoke runs."""

    has_masks = True
    gray = True
    wild = False
    test_params = {}

    def __init__(self, n_train: int = _DEFAULT_LEN["train"], n_test: int = _DEFAULT_LEN["test"],
                 n_unlabelled: int = _DEFAULT_LEN["unlabelled"]) -> None:
        self.n_train, self.n_test, self.n_unlabelled = n_train, n_test, n_unlabelled

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None,
             seed: int = 0) -> EyeData:
        if split not in self.splits:
            raise ValueError(f"dataset {self.name or 'toy'!r} has no split {split!r}; "
                             f"choose one of {', '.join(self.splits)}")
        n = {"train": self.n_train, "test": self.n_test, "unlabelled": self.n_unlabelled}[split]
        if limit is not None:
            n = min(n, int(limit))
        size = tuple(size or self.default_size)
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"toy images must be at least 8x8, got {size}")
        return _ToyData(n, size, seed, self.wild, split, self.name or type(self).__name__)


class ToyEyesWild(ToyEyes):
    """The same tiny generated eyes with wild lighting, noise and blur (paired with ``toy``)."""

    wild = True
    paired_with = "toy"
