"""Shared machinery of the dataset loaders: roots, bad samples, lazy data, crops, masks, poses.

Every loader describes its samples as a list of small records (paths and indices) and a
``read(record)`` function that returns one sample as NumPy arrays at the requested size;
:class:`LazyEyeData` turns that into a :class:`gazebench.types.EyeData` that reads only what is
indexed. :func:`select` applies ``limit``/``seed`` and, when the user asked for ``skip_bad``,
reads each chosen sample once to drop (and count) the bad ones.

Pixel coordinates: ``pupil`` and landmark arrays handed to :func:`map_points` are in *edge*
coordinates (the image spans ``[0, W] x [0, H]``); what lands in an ``EyeBatch`` is in the
core's pixel-centre coordinates (pixel ``i`` is centred on ``i``), as ``resize_batch`` assumes.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from gazebench.io import DATA_ENV, dataset_root
from gazebench.types import EyeBatch, EyeData, EyeSample, bad_label_rows, label_problem

ENV_ROOT = DATA_ENV
#: how many skipped samples are named in ``EyeData.info["skipped_examples"]``
MAX_EXAMPLES = 5


class BadSample(ValueError):
    """One sample (or file) is unreadable or has an invalid label; the message names the file."""


def resolve_root(name: str, root: str | Path | None, layout: str) -> Path:
    """The dataset's folder: ``root``, else ``$GAZEBENCH_DATA/<name>``; one clear line when missing.

    The public :func:`gazebench.io.dataset_root` (third-party datasets call that one).
    """
    return dataset_root(name, root, layout)


def check_split(name: str, split: str, splits: Sequence[str]) -> None:
    if split not in splits:
        raise ValueError(f"dataset {name!r} has no split {split!r}; choose one of {', '.join(splits)}")


def check_size(size: Sequence[int] | None, default: tuple[int, int]) -> tuple[int, int]:
    size = tuple(int(v) for v in (size or default))
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (H, W) with positive values, got {size}")
    return size  # type: ignore[return-value]


_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)", re.IGNORECASE)


def parse_floats(text: Any, n: int | None, what: str) -> np.ndarray:
    """Floats in a string such as ``"(1.0, -2.5, 3e-2)"`` (UnityEyes writes vectors so); never ``eval``."""
    if not isinstance(text, str):
        raise BadSample(f"{what}: expected a string like '(x, y, z)', got {type(text).__name__}")
    values = np.array([float(v) for v in _FLOAT.findall(text)], dtype=np.float64)
    if n is not None and values.size < n:
        raise BadSample(f"{what}: expected {n} numbers in {text!r}")
    return values if n is None else values[:n]


def unit_gaze(v: Any, what: str) -> np.ndarray:
    """``v`` scaled to unit length; a NaN or zero-length vector is a :class:`BadSample`."""
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.shape != (3,):
        raise BadSample(f"{what}: gaze must have 3 components, got {v.shape[0]}")
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm < 1e-9:
        raise BadSample(f"{what}: gaze vector {v.tolist()} is NaN or zero-length")
    return v / norm


def forward_pitchyaw(forward: np.ndarray) -> np.ndarray:
    """(pitch, yaw) of a head's forward axis in the normalised camera frame (gazebench.geometry)."""
    from gazebench.geometry import vector_to_pitchyaw

    return vector_to_pitchyaw(unit_gaze(forward, "head pose"))


def rodrigues_pitchyaw(rvec: Any, what: str) -> np.ndarray:
    """Head (pitch, yaw) from a Rodrigues rotation vector, as MPIIGaze's own scripts compute it.

    The head's forward axis is ``-R[:, 2]`` (``R`` maps head to camera coordinates), so
    ``pitch = arcsin(R[1, 2])`` and ``yaw = arctan2(R[0, 2], R[2, 2])``: exactly the conversion of
    hysts/pytorch_mpiigaze ``tools/preprocess_mpiigaze.py`` (``convert_pose``).
    """
    from scipy.spatial.transform import Rotation

    r = np.asarray(rvec, dtype=np.float64).reshape(-1)
    if r.shape != (3,) or not np.isfinite(r).all():
        raise BadSample(f"{what}: head pose must be a finite Rodrigues 3-vector, got {r.tolist()}")
    rot = Rotation.from_rotvec(r).as_matrix()
    return forward_pitchyaw(-rot[:, 2])


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------

def open_image(path: Path, what: str | None = None) -> Any:
    """A fully decoded PIL image, or a :class:`BadSample` naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except FileNotFoundError:
        raise BadSample(f"{what or path}: image file is missing") from None
    except Exception as exc:  # PIL raises many types for corrupt files
        raise BadSample(f"{what or path}: corrupt or unreadable image ({type(exc).__name__}: {exc})") from None


def to_mode(im: Any, gray: bool) -> Any:
    if gray:
        return im.convert("L")
    return im.convert("RGB")


def centre_box(h: int, w: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The largest box of ``size``'s aspect ratio centred in an ``h`` x ``w`` image (edge coords)."""
    oh, ow = size
    if w * oh >= h * ow:  # too wide: trim the sides
        bw = h * ow / oh
        return ((w - bw) / 2, 0.0, (w + bw) / 2, float(h))
    bh = w * oh / ow
    return (0.0, (h - bh) / 2, float(w), (h + bh) / 2)


def crop_resize(im: Any, box: Sequence[float], size: tuple[int, int]) -> np.ndarray:
    """Crop ``box`` (x0, y0, x1, y1 edge coords, may leave the image: zeros there) and resize to
    ``size`` (H, W) with PIL's antialiased bilinear filter; returns uint8 (C, H, W)."""
    from PIL import Image

    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        raise BadSample(f"empty crop box {tuple(box)}")
    w, h = im.size
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        # pad rather than let PIL clamp, so the box keeps its geometry
        left, top = int(np.ceil(max(0.0, -x0))), int(np.ceil(max(0.0, -y0)))
        right, bottom = int(np.ceil(max(0.0, x1 - w))), int(np.ceil(max(0.0, y1 - h)))
        canvas = Image.new(im.mode, (w + left + right, h + top + bottom))
        canvas.paste(im, (left, top))
        im, x0, x1, y0, y1 = canvas, x0 + left, x1 + left, y0 + top, y1 + top
    if all(float(v).is_integer() for v in (x0, y0, x1, y1)):
        # crop first so the filter cannot reach pixels outside the box
        im, (x0, y0, x1, y1) = im.crop((int(x0), int(y0), int(x1), int(y1))), (0.0, 0.0, x1 - x0, y1 - y0)
    out = im.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
    arr = np.asarray(out, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def map_points(points: np.ndarray, box: Sequence[float], size: tuple[int, int]) -> np.ndarray:
    """Edge-coordinate points of the source image -> pixel-centre points of the crop."""
    x0, y0, x1, y1 = (float(v) for v in box)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    sx, sy = size[1] / (x1 - x0), size[0] / (y1 - y0)
    return np.stack([(pts[:, 0] - x0) * sx - 0.5, (pts[:, 1] - y0) * sy - 0.5], 1)


def rasterise(size: tuple[int, int], opening: np.ndarray, iris: np.ndarray | None,
              pupil: np.ndarray | None) -> np.ndarray:
    """Region labels (0 skin, 1 sclera, 2 iris, 3 pupil) from pixel-centre polygons.

    The iris and pupil are clipped to the eye opening (the eyelids cover them).
    """
    from PIL import Image, ImageDraw

    h, w = size

    def fill(poly: np.ndarray | None) -> np.ndarray:
        img = Image.new("L", (w, h), 0)
        if poly is not None and len(poly) >= 3:
            ImageDraw.Draw(img).polygon([(float(x), float(y)) for x, y in poly], fill=1)
        return np.asarray(img, dtype=bool)

    open_m = fill(opening)
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[open_m] = 1
    mask[open_m & fill(iris)] = 2
    mask[open_m & fill(pupil)] = 3
    return mask


# ---------------------------------------------------------------------------------------------
# lazy data and selection
# ---------------------------------------------------------------------------------------------

Reader = Callable[[Any], dict[str, Any]]


def progress(items: Iterable[Any], total: int, description: str, *, min_total: int = 200) -> Iterable[Any]:
    """A rich progress bar on stderr for long loops (none for short ones, so tests stay quiet)."""
    from gazebench.progress import track

    yield from track(items, total, description, enabled=total >= min_total)


@dataclass
class Selection:
    """Which records a ``load`` keeps, and what it dropped and why."""

    records: list[Any]
    skipped: int = 0
    examples: list[str] = field(default_factory=list)
    #: candidates visited and rejected by a filter (not bad, just not wanted); None: no filter
    filtered: int | None = None

    def info(self) -> dict[str, Any]:
        out = {"skipped": self.skipped, "skipped_examples": list(self.examples)}
        if self.filtered is not None:
            out["filtered"] = self.filtered
        return out


def order(n: int, limit: int | None, seed: int) -> list[int]:
    """Indices to visit: all in order, or (with a ``limit`` below ``n``) a seeded random order, so
    a small test set samples every subject rather than the first one."""
    if limit is None or limit >= n:
        return list(range(n))
    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def describe_record(rec: Any) -> str:
    """A record as an error names it: its file(s), and which sample in the file when it says."""
    if dataclasses.is_dataclass(rec) and not isinstance(rec, type):
        values = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
        paths = [str(v) for v in values.values() if isinstance(v, Path)]
        where = [f"{k} {v}" for k, v in values.items() if k in ("name", "index", "frame", "side") and v is not None]
        if paths:
            return paths[0] + (f" ({', '.join(where)})" if where else "")
    return str(rec)


def check_row(row: dict[str, Any], rec: Any) -> dict[str, Any]:
    """Return ``row`` (what a reader returned) or raise :class:`BadSample` naming the record's
    file and the label that is NaN or infinite (or a zero gaze, or a mask label above 3)."""
    for name in ("gaze", "head_pose", "pupil", "mask"):
        value = row.get(name)
        if value is not None and bad_label_rows(name, np.asarray(value)[None]):
            shown = "" if name == "mask" else f" ({np.asarray(value).tolist()})"
            raise BadSample(f"{describe_record(rec)}: label '{name}' is {label_problem(name)}{shown}")
    return row


def select(records: Sequence[Any], limit: int | None, seed: int, *, skip_bad: bool,
           read: Reader | None = None, accept: Callable[[Any], bool] | None = None,
           name: str = "dataset") -> Selection:
    """Apply ``limit``/``seed``; with ``skip_bad`` read each candidate once, dropping bad ones.

    ``accept`` (a cheap filter, e.g. UnityEyes' head-pose range) is applied to every candidate.
    Without ``skip_bad`` nothing is read here: a bad sample stops the run with its file name when
    it is first read.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    idx = order(len(records), limit, seed)
    want = len(records) if limit is None else min(int(limit), len(records))
    kept: list[int] = []
    sel = Selection([], filtered=None if accept is None else 0)
    if not skip_bad and accept is None:
        kept = idx[:want]
    else:
        for i in progress(idx, len(idx), f"checking {name} samples"):
            if len(kept) >= want:
                break
            try:
                if accept is not None and not accept(records[i]):
                    sel.filtered = (sel.filtered or 0) + 1
                    continue
                if skip_bad and read is not None:
                    check_row(read(records[i]), records[i])
            except BadSample as exc:
                if not skip_bad:
                    raise
                sel.skipped += 1
                if len(sel.examples) < MAX_EXAMPLES:
                    sel.examples.append(str(exc))
                continue
            kept.append(i)
        if skip_bad and sel.skipped:
            print(f"gazebench: {name}: skipped {sel.skipped} bad sample(s), e.g. {sel.examples[0]}",
                  file=sys.stderr)
    sel.records = [records[i] for i in sorted(kept)]
    return sel


def _tensor(values: list[Any], dtype: torch.dtype) -> torch.Tensor | None:
    if any(v is None for v in values):
        return None
    return torch.as_tensor(np.stack([np.asarray(v) for v in values]), dtype=dtype)


class LazyEyeData(EyeData):
    """An :class:`EyeData` over records, each read on demand by ``read(record)``.

    ``read`` returns a dict with ``image`` (uint8 (C, H, W) at the final size) and any of
    ``gaze`` (3,), ``head_pose`` (2,), ``mask`` (H, W), ``pupil`` (2,) pixel-centre coords,
    ``subject`` (int). Every row is checked (:func:`check_row`): a NaN or infinite label is a
    :class:`BadSample` naming the record's file and the label.
    """

    def __init__(self, records: Sequence[Any], read: Reader, info: dict[str, Any]) -> None:
        self.records = list(records)
        self.read = read
        self.info = dict(info)

    def __len__(self) -> int:
        return len(self.records)

    def _check(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return index % len(self)

    def __getitem__(self, index: int) -> EyeSample:
        b = self.batch([self._check(int(index))])
        return EyeSample(image=b.images[0], gaze=None if b.gaze is None else b.gaze[0],
                         head_pose=None if b.head_pose is None else b.head_pose[0],
                         mask=None if b.masks is None else b.masks[0],
                         pupil=None if b.pupil is None else b.pupil[0],
                         subject=None if b.subject is None else int(b.subject[0]))

    def batch(self, indices: Sequence[int]) -> EyeBatch:
        idx = [self._check(int(i)) for i in indices]
        if not idx:
            raise ValueError("cannot make a batch of no samples")
        rows = [check_row(self.read(self.records[i]), self.records[i]) for i in idx]
        return EyeBatch(
            images=torch.from_numpy(np.stack([r["image"] for r in rows])),
            gaze=_tensor([r.get("gaze") for r in rows], torch.float32),
            head_pose=_tensor([r.get("head_pose") for r in rows], torch.float32),
            masks=_tensor([r.get("mask") for r in rows], torch.uint8),
            pupil=_tensor([r.get("pupil") for r in rows], torch.float32),
            subject=_tensor([r.get("subject") for r in rows], torch.int64),
            meta={"dataset": self.info.get("name")})

    def take(self, n: int | None = None) -> EyeBatch:
        count = len(self) if n is None else min(int(n), len(self))
        if count <= 0:
            raise ValueError(f"cannot take {n} samples from a dataset of {len(self)}")
        chunk = 256
        if count <= chunk:
            return self.batch(range(count))
        parts = [self.batch(range(s, min(s + chunk, count)))
                 for s in progress(range(0, count, chunk), (count + chunk - 1) // chunk,
                                   f"reading {self.info.get('name', 'data')}", min_total=4)]
        return EyeBatch.concat(parts)


def subject_number(name: str) -> int | None:
    """``p07`` / ``s12`` / ``f03`` / ``7`` -> 7; ``None`` when the name has no number."""
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else None
