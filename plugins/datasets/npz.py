"""``npz``: the project's prepared-array format, a cache that loads in a second.

``gazebench data prepare NAME --root R --out FILE.npz`` writes it from any dataset; this loader
reads it back, and also reads foreign ``.npz`` files that follow the same key names, such as
``../shared/data/mpiigaze-unlabelled/eyes.npz`` (only ``images``, (N, 36, 60)).

Keys (NumPy ``.npz``, no pickles):

- ``images``: uint8, (N, H, W), (N, C, H, W) or (N, H, W, C) with C 1 or 3 (required);
- ``gaze`` float (N, 3); ``head_pose`` float (N, 2); ``masks`` uint8 (N, H, W) labels 0..3;
  ``pupil`` float (N, 2) pixel-centre (x, y); ``subject`` int (N,) (all optional);
- ``info``: a 0-d string holding JSON (what the source dataset said about itself; optional).

``ROOT`` is the ``.npz`` file itself, or a folder with ``<split>.npz`` (else a single ``.npz``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from gazebench.api import Dataset
from gazebench.types import EyeBatch, TensorEyeData, bad_label_rows, label_problem, resize_batch

from ._common import MAX_EXAMPLES, check_size, order, resolve_root

LAYOUT = "a .npz file with an 'images' array (or a folder holding <split>.npz)"
KEYS = ("images", "gaze", "head_pose", "masks", "pupil", "subject")


def _find_file(root: Path, split: str) -> Path:
    if root.is_file():
        return root
    for cand in (root / f"{split}.npz",):
        if cand.is_file():
            return cand
    files = sorted(root.glob("*.npz"))
    if len(files) == 1:
        return files[0]
    raise FileNotFoundError(f"npz: {root} holds {len(files)} .npz files and no {split}.npz; pass the file itself")


def _images(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise ValueError(f"{path}: 'images' must be uint8, got {arr.dtype}")
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4 and arr.shape[1] in (1, 3):
        return arr
    if arr.ndim == 4 and arr.shape[3] in (1, 3):
        return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
    raise ValueError(f"{path}: 'images' must be (N, H, W), (N, C, H, W) or (N, H, W, C) with C 1 or 3, "
                     f"got {arr.shape}")


def read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays of a prepared file, checked for shape; ``info`` parsed from JSON."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if "images" not in arrays:
        raise ValueError(f"{path}: no 'images' array (keys: {', '.join(arrays) or 'none'})")
    out = {"images": _images(arrays["images"], path)}
    n, h, w = out["images"].shape[0], out["images"].shape[2], out["images"].shape[3]
    shapes = {"gaze": (n, 3), "head_pose": (n, 2), "masks": (n, h, w), "pupil": (n, 2), "subject": (n,)}
    for key, shape in shapes.items():
        if key in arrays:
            if arrays[key].shape != shape:
                raise ValueError(f"{path}: '{key}' must have shape {shape}, got {arrays[key].shape}")
            out[key] = arrays[key]
    if "masks" in out and (out["masks"].dtype != np.uint8 or (out["masks"].size and out["masks"].max() > 3)):
        raise ValueError(f"{path}: 'masks' must be uint8 labels 0..3")
    info: dict[str, Any] = {}
    if "info" in arrays:
        try:
            info = json.loads(str(arrays["info"]))
        except json.JSONDecodeError:
            raise ValueError(f"{path}: 'info' is not JSON") from None
    return out, info


def write_npz(path: str | Path, batch: EyeBatch, info: dict[str, Any]) -> Path:
    """Write ``batch`` (and ``info`` as JSON) atomically in the format :func:`read_npz` reads."""
    from gazebench.io import atomic_path

    arrays = {"images": batch.images.numpy()}
    for key, dtype in (("gaze", np.float32), ("head_pose", np.float32), ("masks", np.uint8),
                       ("pupil", np.float32), ("subject", np.int64)):
        value = getattr(batch, key)
        if value is not None:
            arrays[key] = value.numpy().astype(dtype)
    arrays["info"] = np.array(json.dumps(info, default=str))
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # a file object: savez would otherwise append ".npz" to the temp name
    return path


class NpzDataset(Dataset):
    """Prepared arrays (``gazebench data prepare``) or any .npz with an ``images`` array."""

    #: reads files from disk: the conformance suite leaves it to these tests
    needs_root: ClassVar[bool] = True
    #: set on the instance by ``load``: whether the file read has gaze / masks
    labelled: ClassVar[bool] = False
    has_masks: ClassVar[bool] = False
    default_size: ClassVar[tuple[int, int]] = (36, 60)

    def __init__(self, skip_bad: bool = False) -> None:
        """
        Args:
            skip_bad: drop (and count) samples whose gaze is NaN or zero-length, or whose head pose
                or pupil centre is NaN or infinite, instead of stopping.
        """
        self.skip_bad = skip_bad

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> TensorEyeData:
        name = self.name or "npz"
        if split not in self.splits:
            raise ValueError(f"dataset {name!r} has no split {split!r}; choose one of {', '.join(self.splits)}")
        path = _find_file(resolve_root(name, root, LAYOUT), split)
        arrays, src_info = read_npz(path)
        n = arrays["images"].shape[0]
        if n == 0:
            raise ValueError(f"{path}: 'images' holds no samples")
        keep = np.ones(n, dtype=bool)
        examples: list[str] = []
        for key in ("gaze", "head_pose", "pupil"):  # every label array, not gaze alone
            if key not in arrays:
                continue
            rows = np.array(bad_label_rows(key, arrays[key]), dtype=np.int64)
            if rows.size:
                problem = "NaN or zero-length" if key == "gaze" else label_problem(key)
                if not self.skip_bad:
                    raise ValueError(f"{path}: {key} row(s) {rows[:5].tolist()} are {problem} "
                                     f"(set {name}.skip_bad=true to drop them)")
                keep[rows] = False
                examples += [f"{path}: {key} row {r} is {problem}" for r in rows[:MAX_EXAMPLES - len(examples)]]
        idx = np.flatnonzero(keep)
        visit = order(len(idx), limit, seed)
        want = len(idx) if limit is None else min(int(limit), len(idx))
        idx = np.sort(idx[np.array(visit[:want], dtype=np.int64)])
        t = {k: torch.from_numpy(np.ascontiguousarray(v[idx])) for k, v in arrays.items()}
        if "gaze" in t:
            g = t["gaze"].double()
            t["gaze"] = (g / g.norm(dim=1, keepdim=True)).float()
        batch = EyeBatch(images=t["images"], gaze=t.get("gaze"),
                         head_pose=None if "head_pose" not in t else t["head_pose"].float(),
                         masks=t.get("masks"), pupil=None if "pupil" not in t else t["pupil"].float(),
                         subject=None if "subject" not in t else t["subject"].long())
        size = check_size(size, batch.size)
        batch = resize_batch(batch, size)
        self.labelled = batch.gaze is not None  # type: ignore[misc]
        self.has_masks = batch.masks is not None  # type: ignore[misc]
        info = {"name": name, "root": str(path), "split": split, "size": list(size),
                "gray": batch.channels == 1, "n_available": n, "source": src_info,
                "skipped": int((~keep).sum()), "skipped_examples": examples}
        return TensorEyeData(batch, info)
