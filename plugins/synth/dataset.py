"""Datasets ``synth`` (clean, UnityEyes-like) and ``synth-wild`` (real-outdoor-like).

Both render the *same* latent eyes: sample ``i`` of a split of ``synth-wild`` is sample ``i`` of
the same split of ``synth`` under another light and camera, so ``pair == index`` and the clean
render is the oracle of a perfect purifier. Nothing is stored: a sample is rendered when read,
from (seed, split, index) alone, so a dataset of a million samples costs no memory and the same
index gives the same bytes in any batch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch

from gazebench.api import Dataset
from gazebench.types import EyeBatch, EyeData, EyeSample

from .latents import LatentConfig, sample_latents
from .render import render, single_thread
from .wild import degrade, parse_effects, wild_light, wild_uniforms

#: the renderer's version, in every dataset record (``info["renderer_version"]``) and in
#: ``describe()``: numbers measured on different versions are different data. History:
#: ``1`` the first renderer; ``2`` synth-wild re-tuned against real MPIIGaze patches (darker
#: irises, greyer sclera, camera blur and grain, side light, JPEG 75, luma-exact colour
#: pipeline; docs/renderer.md). ``synth`` renders the same bytes in 1 and 2. ``3`` (issue 18,
#: round 13) both styles: the eye set lower and wider open, darker creases, a brow ridge at the skin's
#: median level, the crease hollow instead of the brow's; synth-wild with a fill light on the eye,
#: less noise, side light pulled less, the camera's tone re-fitted (docs/renderer.md, "Round 13";
#: ``results/realism/blocks.py`` ``V2_CODE`` renders version 2's bytes again).
RENDERER_VERSION = "3"
#: pixels rendered per chunk: bounds memory, and ~1 MB float32 maps stay in cache (fastest here)
CHUNK_PIXELS = 300_000
_LUMA = torch.tensor([0.299, 0.587, 0.114])


class _SynthData(EyeData):
    """The lazy samples of one split: rendered on demand, in chunks."""

    def __init__(self, dataset: "SynthEyes", split: str, n: int, size: tuple[int, int], seed: int) -> None:
        self.dataset, self.split, self.n, self.size, self.seed = dataset, split, n, size, seed
        self.config = dataset.latent_config()
        self.info = {"name": dataset.name or type(dataset).__name__, "split": split, "size": list(size),
                     "seed": seed, "generated": True, "renderer": "gazebench_plugins.synth",
                     "renderer_version": RENDERER_VERSION,
                     "style": dataset.style, "gray": dataset.channels == 1,
                     "params": dataset.describe()["params"]}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> EyeSample:
        index = int(index)
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        return self.batch([index]).sample(0)

    def batch(self, indices: Sequence[int]) -> EyeBatch:
        idx = torch.as_tensor(list(indices) if not isinstance(indices, torch.Tensor) else indices,
                              dtype=torch.int64).view(-1)
        if idx.numel() == 0:
            raise ValueError("batch() needs at least one index")
        if int(idx.min()) < 0 or int(idx.max()) >= self.n:
            bad = idx[(idx < 0) | (idx >= self.n)][0]
            raise IndexError(f"index {int(bad)} out of range for {self.n} samples of {self.info['name']!r}")
        h, w = self.size
        step = max(1, CHUNK_PIXELS // (h * w))
        chunks = [idx[i:i + step] for i in range(0, len(idx), step)]
        with single_thread():
            parts = [self._render(c) for c in _progress(chunks, f"rendering {len(idx)} {self.info['name']} eyes")]
        out = EyeBatch.concat(parts)
        out.meta["dataset"] = self.info["name"]
        return out

    def _render(self, idx: torch.Tensor) -> EyeBatch:
        ds = self.dataset
        lat = sample_latents(idx, seed=self.seed, split=self.split, config=self.config)
        if ds.style == "wild":
            u = wild_uniforms(lat)
            effects = parse_effects(ds.effects)
            r = render(lat, self.size, wild_light(lat, u, float(ds.severity)) if "light" in effects else None)
            images = degrade(r.image, lat, u, r.ppm, severity=float(ds.severity), channels=ds.channels,
                             equalize_hist=bool(ds.equalize), effects=effects)
        else:
            r = render(lat, self.size)
            img = r.image.clamp(0, 1) * 255
            if ds.channels == 1:
                img = torch.einsum("nchw,c->nhw", img, _LUMA).unsqueeze(1)
            images = img.round().clamp(0, 255).to(torch.uint8)
        return EyeBatch(images=images, gaze=lat.gaze.float(),
                        head_pose=torch.stack([lat.head_pitch, lat.head_yaw], 1).float(),
                        masks=r.masks, pupil=r.pupil.float(), subject=lat.subject.clone(), pair=idx.clone())


def _progress(items: list[Any], text: str) -> Any:
    """Iterate with a rich progress bar when rendering takes many chunks on a terminal."""
    from gazebench.progress import track

    yield from track(items, len(items), text, enabled=len(items) >= 8 and sys.stderr.isatty())


class SynthEyes(Dataset):
    """Embedded procedural eyes, clean UnityEyes-like style: exact gaze, masks, pupil, subjects.

    Args:
        n_train, n_test, n_unlabelled: samples per split (lazy: any number costs nothing).
        n_subjects: people; sample ``i`` belongs to subject ``i % n_subjects`` in every split.
        pitch_range_deg, yaw_range_deg: uniform gaze ranges, degrees.
        head_pose_std_deg: spread of the (small) head pose, degrees.
        channels: 3 (RGB) or 1 (gray).
    """

    has_masks = True
    default_size = (36, 60)
    style: ClassVar[str] = "clean"
    test_params: ClassVar[dict[str, Any]] = {"n_train": 64, "n_test": 32, "n_unlabelled": 32}

    def __init__(self, n_train: int = 50_000, n_test: int = 5_000, n_unlabelled: int = 5_000,
                 n_subjects: int = 15, pitch_range_deg: Sequence[float] = (-25.0, 15.0),
                 yaw_range_deg: Sequence[float] = (-30.0, 30.0), head_pose_std_deg: float = 6.0,
                 channels: int = 3) -> None:
        self.n_train, self.n_test, self.n_unlabelled = n_train, n_test, n_unlabelled
        self.n_subjects = n_subjects
        self.pitch_range_deg, self.yaw_range_deg = pitch_range_deg, yaw_range_deg
        self.head_pose_std_deg = head_pose_std_deg
        self.channels = channels

    def describe(self) -> dict[str, Any]:
        """The component description plus the renderer's version (:data:`RENDERER_VERSION`)."""
        return {**super().describe(), "renderer_version": RENDERER_VERSION}

    def latent_config(self) -> LatentConfig:
        """The latent distribution these parameters describe (checked)."""
        try:
            cfg = LatentConfig(n_subjects=int(self.n_subjects),
                               pitch_range_deg=tuple(float(v) for v in self.pitch_range_deg),
                               yaw_range_deg=tuple(float(v) for v in self.yaw_range_deg),
                               head_pose_std_deg=float(self.head_pose_std_deg))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"dataset {self.name or 'synth'!r}: bad latent parameter ({exc}); "
                             "ranges are two numbers, e.g. pitch_range_deg=[-25, 15]") from None
        if len(cfg.pitch_range_deg) != 2 or len(cfg.yaw_range_deg) != 2:
            raise ValueError(f"dataset {self.name or 'synth'!r}: pitch_range_deg and yaw_range_deg take "
                             "two numbers (low, high)")
        cfg.check()
        return cfg

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> EyeData:
        name = self.name or "synth"
        if split not in self.splits:
            raise ValueError(f"dataset {name!r} has no split {split!r}; choose one of {', '.join(self.splits)}")
        if self.channels not in (1, 3):
            raise ValueError(f"dataset {name!r}: channels must be 1 or 3, got {self.channels!r}")
        n = int({"train": self.n_train, "test": self.n_test, "unlabelled": self.n_unlabelled}[split])
        if n < 0:
            raise ValueError(f"dataset {name!r}: n_{split} must be >= 0, got {n}")
        if limit is not None:
            n = min(n, int(limit))
        size = tuple(int(v) for v in (size or self.default_size))
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"dataset {name!r}: images must be at least 8x8, got {size}")
        self.latent_config()
        return _SynthData(self, split, n, size, int(seed))


class SynthEyesWild(SynthEyes):
    """The same latent eyes as ``synth`` as real outdoor webcam crops look (paired with ``synth``).

    Args (besides :class:`SynthEyes`'):
        severity: scales every degradation (0 clean camera, 1 default, 2 harsh).
        equalize: MPIIGaze's histogram equalisation of each crop (on luma).
        effects: which degradation families apply: ``"all"`` (default), ``"none"``, or a comma list
            of ``light, glare, tone, noise, blur, jpeg, equalize`` (``-o synth-wild.effects=light,blur``);
            with none the images equal the paired ``synth`` renders.
    """

    style: ClassVar[str] = "wild"
    paired_with = "synth"
    default_rank = 2  # the default test set (trained on its pair, synth) of every command

    def __init__(self, n_train: int = 50_000, n_test: int = 5_000, n_unlabelled: int = 5_000,
                 n_subjects: int = 15, pitch_range_deg: Sequence[float] = (-25.0, 15.0),
                 yaw_range_deg: Sequence[float] = (-30.0, 30.0), head_pose_std_deg: float = 6.0,
                 channels: int = 3, severity: float = 1.0, equalize: bool = True,
                 effects: str | Sequence[str] = "all") -> None:
        super().__init__(n_train=n_train, n_test=n_test, n_unlabelled=n_unlabelled, n_subjects=n_subjects,
                         pitch_range_deg=pitch_range_deg, yaw_range_deg=yaw_range_deg,
                         head_pose_std_deg=head_pose_std_deg, channels=channels)
        self.severity = severity
        self.equalize = equalize
        self.effects = effects

    def paired_params(self) -> dict[str, Any]:
        """The latent parameters ``synth`` needs to render these same eyes (the oracle)."""
        return {k: v for k, v in self.get_params().items() if k not in ("severity", "equalize", "effects")}

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> EyeData:
        if not 0 <= float(self.severity) <= 3:
            raise ValueError(f"dataset {self.name or 'synth-wild'!r}: severity must lie in [0, 3], "
                             f"got {self.severity!r}")
        try:
            parse_effects(self.effects)
        except ValueError as exc:
            raise ValueError(f"dataset {self.name or 'synth-wild'!r}: {exc}") from None
        return super().load(split, root=root, size=size, limit=limit, seed=seed)
