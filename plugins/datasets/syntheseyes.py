"""``syntheseyes``: SynthesEyes (Wood et al., ICCV 2015): 11,382 rendered 120x80 eye images.

Layout (the published archive)::

    ROOT/SynthEyes_data/f01/<name>.png + <name>.pkl ... f10/   (ROOT may also be SynthEyes_data)

Each ``.png`` (RGB or RGBA) has a pickle beside it, a dict with ``look_vec`` (the 3D gaze
direction in camera space), ``head_pose`` (3x3 rotation from world to camera space) and ``ldmks``,
a dict of ``ldmks_lids_2d``, ``ldmks_iris_2d``, ``ldmks_pupil_2d`` (screen space, pixels, y down)
and their ``*_3d`` counterparts.

Sources: the key descriptions above are quoted from public scripts that read the dataset (a
``getData`` helper documenting ``'look_vec': the 3D gaze direction in camera space``,
``'head_pose': a 3x3 matrix rotation from world space to camera space``; loaders globbing
``SynthEyes_data/**/*.png`` and opening ``path[:-3] + 'pkl'``; mask scripts filling
``db['ldmks']['ldmks_lids_2d']`` etc. directly on the image). The pickles come from Python 2: they
are read with ``encoding='latin1'`` through an unpickler that only admits NumPy arrays and plain
containers (a pickle can run code; these cannot).

Gaze, against :mod:`gazebench.geometry`: the camera space is OpenGL's (x right, y up, the camera
looking down -z); a public script converts it with ``coord_swap = diag(1, -1, -1)`` before using
OpenCV's projection, and this loader does the same: ``gaze = (x, -y, -z)`` of ``look_vec``. This
was inferred from that script, not from a published statement.

Not confirmed either: whether 2D landmark pixels count from pixel corners or centres (taken as
corners, like UnityEyes' screen points; half a pixel at most).

Head pose: which world axis the face looks along is **not documented**, so no head pose is
returned unless ``head_forward`` names that axis (e.g. ``"+z"``): then the forward axis is
``head_pose @ axis`` in camera space, converted like the gaze.

License: research use (University of Cambridge); see the dataset's page.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gazebench.api import Dataset

from ._common import (BadSample, LazyEyeData, centre_box, check_size, check_split, crop_resize, forward_pitchyaw,
                      map_points, open_image, rasterise, resolve_root, select, subject_number, unit_gaze)

LAYOUT = "ROOT/SynthEyes_data/fNN/<name>.png with <name>.pkl beside each (the SynthesEyes archive)"
#: OpenGL camera space (y up, looking down -z) -> the normalised frame (y down, z away)
GL_TO_CV = np.array([1.0, -1.0, -1.0])
_AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0), "+z": (0, 0, 1), "-z": (0, 0, -1)}


class _SafeUnpickler(pickle.Unpickler):
    """Admits NumPy arrays/scalars and builtin containers only."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("copyreg", "_reconstructor"),
               ("_codecs", "encode"),  # how protocol-2 pickles carry array bytes
               ("builtins", "object"), ("builtins", "list"), ("builtins", "dict"), ("builtins", "tuple")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = _SafeUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise BadSample(f"{path}: file is missing") from None
    except Exception as exc:
        raise BadSample(f"{path}: corrupt or unsupported pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise BadSample(f"{path}: expected a dict, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class _Rec:
    png: Path
    subject: int


def _ldmks(data: dict[str, Any], key: str, path: Path, min_n: int) -> np.ndarray:
    ldmks = data.get("ldmks")
    if not isinstance(ldmks, dict) or key not in ldmks:
        raise BadSample(f"{path}: missing key 'ldmks.{key}'")
    pts = np.asarray(ldmks[key], dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2 or len(pts) < min_n or not np.isfinite(pts[:, :2]).all():
        raise BadSample(f"{path}: ldmks.{key} must be at least {min_n} finite (x, y) points, got {pts.shape}")
    return pts[:, :2]


class SynthesEyes(Dataset):
    """SynthesEyes renders (120x80 RGB) with landmark masks and gaze."""

    labelled: ClassVar[bool] = True
    needs_root: ClassVar[bool] = True  # reads files from disk (the conformance suite skips it)
    has_masks: ClassVar[bool] = True
    gray: ClassVar[bool] = False
    default_size: ClassVar[tuple[int, int]] = (36, 60)

    def __init__(self, test_every: int = 10, head_forward: str | None = None, skip_bad: bool = False) -> None:
        """
        Args:
            test_every: every ``test_every``-th image (path order) is split ``test``, the rest
                ``train``; ``unlabelled`` is all; ``0``: every split is all images.
            head_forward: the world axis the face looks along (``+z``, ``-y``, ...) to derive head
                pose from ``head_pose``; ``None`` (default): no head pose (not documented).
            skip_bad: drop (and count) unreadable files and NaN/zero gaze instead of stopping.
        """
        self.test_every = test_every
        self.head_forward = head_forward
        self.skip_bad = skip_bad

    def _records(self, root: Path, split: str) -> list[_Rec]:
        base = root / "SynthEyes_data" if (root / "SynthEyes_data").is_dir() else root
        pngs = sorted(base.rglob("*.png"))
        if not pngs:
            raise FileNotFoundError(f"syntheseyes: no .png files under {base}; expected {LAYOUT}")
        folders = sorted({p.parent for p in pngs})
        recs = []
        for p in pngs:
            num = subject_number(p.parent.name)
            recs.append(_Rec(p, num if num is not None else folders.index(p.parent)))
        k = int(self.test_every)
        if k > 0 and split != "unlabelled":
            recs = [r for i, r in enumerate(recs) if (i % k == k - 1) == (split == "test")]
        return recs

    def _reader(self, size: tuple[int, int]) -> Any:
        axis = None
        if self.head_forward is not None:
            if self.head_forward not in _AXES:
                raise ValueError(f"syntheseyes.head_forward={self.head_forward!r}: choose one of {', '.join(_AXES)}")
            axis = np.array(_AXES[self.head_forward], dtype=np.float64)

        def read(rec: _Rec) -> dict[str, Any]:
            pkl = rec.png.with_suffix(".pkl")
            data = read_pickle(pkl)
            if "look_vec" not in data:
                raise BadSample(f"{pkl}: missing key 'look_vec'")
            gaze = unit_gaze(np.asarray(data["look_vec"], dtype=np.float64).reshape(-1)[:3] * GL_TO_CV, str(pkl))
            lids = _ldmks(data, "ldmks_lids_2d", pkl, 3)
            iris = _ldmks(data, "ldmks_iris_2d", pkl, 3)
            pupil = _ldmks(data, "ldmks_pupil_2d", pkl, 3)
            out: dict[str, Any] = {"gaze": gaze.astype(np.float32), "subject": rec.subject}
            if axis is not None:
                rot = np.asarray(data.get("head_pose"), dtype=np.float64)
                if rot.shape != (3, 3) or not np.isfinite(rot).all():
                    raise BadSample(f"{pkl}: head_pose must be a finite 3x3 matrix")
                out["head_pose"] = forward_pitchyaw((rot @ axis) * GL_TO_CV).astype(np.float32)
            im = open_image(rec.png).convert("RGB")
            box = centre_box(im.size[1], im.size[0], size)
            out["image"] = crop_resize(im, box, size)
            lids_c, iris_c, pupil_c = (map_points(p, box, size) for p in (lids, iris, pupil))
            out["mask"] = rasterise(size, lids_c, iris_c, pupil_c)
            out["pupil"] = pupil_c.mean(0).astype(np.float32)
            return out

        return read

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> LazyEyeData:
        name = self.name or "syntheseyes"
        check_split(name, split, self.splits)
        size = check_size(size, self.default_size)
        root = resolve_root(name, root, LAYOUT)
        records = self._records(root, split)
        read = self._reader(size)
        sel = select(records, limit, seed, skip_bad=self.skip_bad, read=read, name=name)
        info = {"name": name, "root": str(root), "split": split, "size": list(size), "gray": False,
                "n_available": len(records), "head_pose": self.head_forward is not None, **sel.info()}
        return LazyEyeData(sel.records, read, info)
