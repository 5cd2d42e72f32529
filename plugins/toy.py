"""``toy`` and ``toy-wild``: tiny, crude generated eyes for tests and smoke runs.

The images come from :func:`gazebench.testing.make_toy_eyes` (flat discs, exact gaze);
``toy-wild`` renders the *same* latent eyes (pair id = index) degraded. This is not the embedded
renderer (``synth``); it exists so the core can be exercised with no other plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from gazebench.api import Dataset
from gazebench.testing import make_toy_eyes
from gazebench.types import EyeBatch, EyeData, EyeSample

_STREAM = {"train": 11, "test": 12, "unlabelled": 13}


class _ToyData(EyeData):
    def __init__(self, n: int, size: tuple[int, int], seed: int, wild: bool, split: str, name: str) -> None:
        self.n, self.size, self.seed, self.wild, self.split = n, size, seed, wild, split
        self.info = {"name": name, "split": split, "size": list(size), "seed": seed,
                     "generated": True, "gray": True}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> EyeSample:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        return self.batch([index]).sample(0)

    def batch(self, indices: Sequence[int]) -> EyeBatch:
        batch = make_toy_eyes(indices, self.size, seed=self.seed, stream=_STREAM[self.split], wild=self.wild)
        batch.meta["dataset"] = self.info["name"]
        return batch


class ToyEyes(Dataset):
    """Tiny generated eyes (flat discs), clean style: for tests and smoke runs."""

    param_ranges = {"n_train": (0, None), "n_test": (0, None), "n_unlabelled": (0, None)}

    has_masks = True
    gray = True
    wild = False

    def __init__(self, n_train: int = 2000, n_test: int = 500, n_unlabelled: int = 500) -> None:
        self.n_train, self.n_test, self.n_unlabelled = n_train, n_test, n_unlabelled

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> EyeData:
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
    default_rank = 1  # the default test set where the embedded renderer is not installed

    def paired_params(self) -> dict[str, int]:
        return self.get_params()
