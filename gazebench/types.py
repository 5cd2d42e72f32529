"""Sample and batch containers shared by every dataset, purifier, segmenter and estimator.

Conventions (see :mod:`gazebench.geometry` for the gaze frame):

- ``images``: ``uint8`` tensor ``(N, C, H, W)``, ``C`` = 1 (gray) or 3 (RGB).
- ``gaze``: ``float32`` ``(N, 3)`` unit vectors, MPIIGaze's normalised camera frame.
- ``head_pose``: ``float32`` ``(N, 2)`` (pitch, yaw) in radians of the head's forward axis, the
  same convention as gaze.
- ``masks``: ``uint8`` ``(N, H, W)`` region labels: 0 skin/background, 1 sclera, 2 iris, 3 pupil.
- ``pupil``: ``float32`` ``(N, 2)`` pupil centre ``(x, y)`` in pixels of ``images``.
- ``subject``: ``int64`` ``(N,)``; ``pair``: ``int64`` ``(N,)`` index of the same latent sample in
  the paired dataset (renderer only), else absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable, Sequence

import torch

REGIONS: dict[int, str] = {0: "skin", 1: "sclera", 2: "iris", 3: "pupil"}
_OPTIONAL = ("gaze", "head_pose", "masks", "pupil", "subject", "pair")


@dataclass
class EyeSample:
    """One eye image and whatever labels its dataset has (``None`` where it has none)."""

    image: torch.Tensor
    gaze: torch.Tensor | None = None
    head_pose: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    pupil: torch.Tensor | None = None
    subject: int | None = None
    pair: int | None = None


@dataclass
class EyeBatch:
    """A batch of eye images with optional labels; every tensor shares the first dimension."""

    images: torch.Tensor
    gaze: torch.Tensor | None = None
    head_pose: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    pupil: torch.Tensor | None = None
    subject: torch.Tensor | None = None
    pair: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_images(self.images, "EyeBatch.images")
        n = self.images.shape[0]
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None and value.shape[0] != n:
                raise ValueError(f"EyeBatch.{name} has {value.shape[0]} rows but images has {n}")
        if self.gaze is not None and (self.gaze.ndim != 2 or self.gaze.shape[1] != 3):
            raise ValueError(f"EyeBatch.gaze must be (N, 3), got {tuple(self.gaze.shape)}")
        if self.masks is not None and self.masks.shape[1:] != self.images.shape[2:]:
            raise ValueError(f"EyeBatch.masks must be (N, H, W) = (N, {self.images.shape[2]}, "
                             f"{self.images.shape[3]}), got {tuple(self.masks.shape)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the images."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def __getitem__(self, index: Any) -> "EyeBatch":
        """Rows by slice, index tensor or list; always returns a batch."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        kw = {name: (v[index] if v is not None else None)
              for name in ("images",) + _OPTIONAL for v in [getattr(self, name)]}
        return EyeBatch(**kw, meta=dict(self.meta))

    def sample(self, i: int) -> EyeSample:
        """Row ``i`` as an :class:`EyeSample` (what ``EyeData.__getitem__`` returns)."""
        def get(t: torch.Tensor | None) -> Any:
            return None if t is None else t[i]

        return EyeSample(image=self.images[i], gaze=get(self.gaze), head_pose=get(self.head_pose),
                         mask=get(self.masks), pupil=get(self.pupil),
                         subject=None if self.subject is None else int(self.subject[i]),
                         pair=None if self.pair is None else int(self.pair[i]))

    def replace(self, **changes: Any) -> "EyeBatch":
        return replace(self, **changes)

    def without_labels(self) -> "EyeBatch":
        """The batch an estimator or purifier may see at test time: no gaze, no pair id."""
        return replace(self, gaze=None, pair=None)

    def to(self, device: torch.device | str) -> "EyeBatch":
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("images",) + _OPTIONAL:
            if kw[name] is not None:
                kw[name] = kw[name].to(device)
        return EyeBatch(**kw)

    @staticmethod
    def collate(samples: Sequence[EyeSample]) -> "EyeBatch":
        """Stack samples; a label is kept only when every sample has it."""
        if not samples:
            raise ValueError("cannot collate an empty list of samples")

        def stack(attr: str) -> torch.Tensor | None:
            values = [getattr(s, attr) for s in samples]
            if any(v is None for v in values):
                return None
            if isinstance(values[0], int):
                return torch.tensor(values, dtype=torch.int64)
            return torch.stack([torch.as_tensor(v) for v in values])

        return EyeBatch(images=stack("image"), gaze=stack("gaze"), head_pose=stack("head_pose"),
                        masks=stack("mask"), pupil=stack("pupil"), subject=stack("subject"),
                        pair=stack("pair"))

    @staticmethod
    def concat(batches: Iterable["EyeBatch"]) -> "EyeBatch":
        batches = list(batches)
        kw: dict[str, Any] = {}
        for name in ("images",) + _OPTIONAL:
            values = [getattr(b, name) for b in batches]
            kw[name] = None if any(v is None for v in values) else torch.cat(values)
        return EyeBatch(**kw, meta=dict(batches[0].meta))


class EyeData(torch.utils.data.Dataset):
    """A lazy, indexable set of eye samples: what :meth:`gazebench.api.Dataset.load` returns.

    Subclasses implement ``__len__`` and ``__getitem__``; override :meth:`batch` when a whole
    batch can be made faster than one sample at a time (a renderer, an in-memory array).
    """

    #: free-form facts about the data (name, root, split, gray, ...), copied into records
    info: dict[str, Any]

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> EyeSample:  # pragma: no cover - abstract
        raise NotImplementedError

    def batch(self, indices: Sequence[int]) -> EyeBatch:
        """The samples at ``indices`` as one batch."""
        return EyeBatch.collate([self[int(i)] for i in indices])

    def take(self, n: int | None = None) -> EyeBatch:
        """The first ``n`` samples (all when ``None``) as one batch, its labels checked
        (:func:`check_labels`)."""
        count = len(self) if n is None else min(int(n), len(self))
        if count <= 0:
            raise ValueError(f"cannot take {n} samples from a dataset of {len(self)}")
        return check_labels(self.batch(range(count)), data_source(getattr(self, "info", None)))


class TensorEyeData(EyeData):
    """An :class:`EyeData` over an in-memory :class:`EyeBatch`; its labels are checked here
    (:func:`check_labels`), so a NaN gaze, head pose or pupil centre is an error naming the field
    and ``info["name"]``/``info["root"]`` instead of a silently wrong result."""

    def __init__(self, batch: EyeBatch, info: dict[str, Any] | None = None) -> None:
        self.info = dict(info or {})
        self._batch = check_labels(batch, data_source(self.info))

    def __len__(self) -> int:
        return len(self._batch)

    def __getitem__(self, index: int) -> EyeSample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return self._batch.sample(index)

    def batch(self, indices: Sequence[int]) -> EyeBatch:
        return self._batch[torch.as_tensor(list(indices), dtype=torch.int64)]


#: labels that must be finite floats (gaze also non-zero: it is a direction)
FLOAT_LABELS: tuple[str, ...] = ("gaze", "head_pose", "pupil")


def data_source(info: dict[str, Any] | None) -> str:
    """How an error names a dataset: ``dataset 'NAME' (ROOT)`` from its ``info``."""
    info = info or {}
    text = f"dataset {info['name']!r}" if info.get("name") else "dataset"
    return f"{text} ({info['root']})" if info.get("root") else text


def bad_label_rows(name: str, values: Any) -> list[int]:
    """Rows of label ``name`` (a tensor or array, first dimension = samples) that are invalid:
    NaN or infinite for :data:`FLOAT_LABELS` (a zero-length gaze too), a region label above 3 for
    ``masks``/``mask``; ``[]`` when every row is fine or ``name`` is not a label checked here."""
    t = torch.as_tensor(values)
    if t.ndim == 0:
        t = t[None]
    if name in FLOAT_LABELS:
        t = t.reshape(t.shape[0], -1).to(torch.float64)
        bad = ~torch.isfinite(t).all(1)
        if name == "gaze":
            bad |= t.norm(dim=1) < 1e-9
    elif name in ("masks", "mask"):
        bad = (t.reshape(t.shape[0], -1) > 3).any(1)
    else:
        return []
    return torch.nonzero(bad).flatten().tolist()


def label_problem(name: str) -> str:
    """What :func:`bad_label_rows` finds wrong with label ``name``, in words."""
    if name in ("masks", "mask"):
        return "a region label above 3"
    return "NaN, infinite or zero-length" if name == "gaze" else "NaN or infinite"


def check_labels(batch: EyeBatch, source: str = "dataset") -> EyeBatch:
    """Return ``batch`` unchanged, or raise a one-line ``ValueError`` naming ``source``, the label
    and its first bad rows: NaN/inf in ``gaze``, ``head_pose`` or ``pupil``, a zero gaze, a mask
    label above 3. Every label array a dataset hands out passes through here (``EyeData.take``,
    ``TensorEyeData``), because one NaN pupil silently turns an error of 4 degrees into 13."""
    for name in (*FLOAT_LABELS, "masks"):
        values = getattr(batch, name)
        if values is None:
            continue
        rows = bad_label_rows(name, values)
        if rows:
            what = label_problem(name)
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise ValueError(f"{source}: label '{name}' is {what} in row(s) {rows[:5]}{more}; fix the data "
                             "or drop those samples (many loaders take -o NAME.skip_bad=true)")
    return batch


def validate_images(images: Any, what: str = "images") -> None:
    """Raise a one-line ``ValueError`` unless ``images`` is a uint8 (N, C, H, W) tensor, C in {1, 3}."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{what} must be (N, C, H, W) with C 1 or 3, got {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        raise ValueError(f"{what} must be uint8, got {images.dtype}")


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3|1, H, W) -> uint8 (N, 1, H, W), ITU-R BT.601 luma (as OpenCV and PIL)."""
    if images.shape[1] == 1:
        return images
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32, device=images.device)
    y = (images.float() * w.view(1, 3, 1, 1)).sum(1, keepdim=True)
    return y.round().clamp(0, 255).to(torch.uint8)


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1|3, H, W) -> (N, 3, H, W) by replicating a gray channel."""
    return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images


def resize_batch(batch: EyeBatch, size: tuple[int, int]) -> EyeBatch:
    """Resize images (bilinear, antialiased), masks (nearest) and pupil centres to ``size`` (H, W)."""
    import torch.nn.functional as F

    h, w = batch.size
    if (h, w) == tuple(size):
        return batch
    imgs = F.interpolate(batch.images.float(), size=size, mode="bilinear", align_corners=False,
                         antialias=True).round().clamp(0, 255).to(torch.uint8)
    masks = None
    if batch.masks is not None:
        masks = F.interpolate(batch.masks[:, None].float(), size=size, mode="nearest")[:, 0]
        masks = masks.to(torch.uint8)
    pupil = None
    if batch.pupil is not None:
        scale = torch.tensor([size[1] / w, size[0] / h], dtype=batch.pupil.dtype)
        # pixel centres: x' + 0.5 = (x + 0.5) * scale
        pupil = (batch.pupil + 0.5) * scale - 0.5
    return batch.replace(images=imgs, masks=masks, pupil=pupil)
