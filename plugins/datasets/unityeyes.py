"""``unityeyes``: UnityEyes renders (synthetic; per-image JSON with landmarks and look vector).

Layout: what the UnityEyes application writes, ``N.jpg`` + ``N.json`` pairs in one folder (its
``imgs/`` folder; ``ROOT`` may be that folder or its parent). JSON keys used:

- ``interior_margin_2d``, ``caruncle_2d``, ``iris_2d``: lists of strings ``"(x, y, z)"``,
  ``Camera.WorldToScreenPoint`` of mesh vertices: pixels with **y measured from the bottom** of
  the image (z is depth, unused);
- ``eye_details.look_vec``: ``"(x, y, z, 0)"``, the eyeball's forward axis in the camera's local
  frame (``Camera.main.transform.worldToLocalMatrix * GetEyeLookVector()``);
  ``eye_details.pupil_size`` / ``iris_size`` (strings; see below);
- ``head_pose``: ``"(pitch, yaw, roll)"``, the camera's Euler angles in degrees.

Sources: the UnityEyes/SynthesEyes Unity sources as republished on GitHub (``saveDetails`` and
``EyeballController.GetEyeballDetails``), and the widely used loader swook/GazeML
``src/datasources/unityeyes.py`` (``(x, ih - y, z)``, ``look_vec[0] = -look_vec[0]`` with its own
pitch/yaw convention, ``h_yaw -= 180``, the 1.5 x eye-corner crop).

Gaze, against :mod:`gazebench.geometry`: Unity's camera frame is x right, y **up**, z forward (away
from the camera). The normalised frame is x right, y down, z away, so
``gaze = (x, -y, z)`` of ``look_vec``. (GazeML negates x instead, because its
``vector_to_pitchyaw`` uses ``arcsin(y), arctan2(x, z)`` and then folds yaw by pi; worked through,
its angles equal the project's angles of ``(x, -y, z)``.) Looking straight at the camera is
``look_vec = (0, 0, -1)``, gaze ``(0, 0, -1)``; looking up moves the iris up the screen and gives
positive pitch. Head pose: Unity composes ``R = Ry(yaw) Rx(pitch) Rz(roll)``; the face looks along
world +z (a frontal render has camera yaw 180, hence GazeML's ``- 180``), so the head's forward
axis in camera coordinates is ``R^T (0, 0, 1)``, then y is negated like the gaze.

Crop: GazeML's, without its augmentation: a box of width 1.5 x the distance between the inner
corner (mean of ``caruncle_2d``) and the outer corner (``interior_margin_2d[8]``), centred on the
middle of the eyelid landmarks' bounding box, with the estimator's aspect ratio.

Masks: eye opening = polygon of ``interior_margin_2d`` (sclera), iris = polygon of ``iris_2d``,
pupil = the iris polygon shrunk about its centre; all clipped to the opening. The pupil radius is
**not confirmed**: ``pupil_size`` is the eye shader's ``_PupilSize`` parameter, drawn as a
Gaussian / 5 in the renderer's source, and the shader that maps it to a radius was not found.
This loader takes the pupil radius as ``pupil_ratio * (1 + pupil_size)`` of the iris radius
(clipped to 0.1..0.9), a choice, not a published fact; ``iris_size`` scales the iris mesh and is
already in ``iris_2d``. Pupil centre = mean of ``iris_2d``.

License: UnityEyes is free for non-commercial research (Wood et al., ETRA 2016); the renders
are the user's own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gazebench.api import Dataset

from ._common import (BadSample, LazyEyeData, check_size, check_split, crop_resize, forward_pitchyaw,
                      map_points, open_image, parse_floats, rasterise, resolve_root, select, unit_gaze)

LAYOUT = "N.jpg + N.json pairs written by UnityEyes in ROOT (or ROOT/imgs)"


def unity_rotation(euler_deg: np.ndarray) -> np.ndarray:
    """Unity's ``Quaternion.Euler(x, y, z)`` as a matrix: rotate z, then x, then y (degrees)."""
    x, y, z = np.radians(np.asarray(euler_deg, dtype=np.float64)[:3])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return ry @ rx @ rz


def look_vec_to_gaze(look_vec: Any, what: str = "look_vec") -> np.ndarray:
    """UnityEyes ``look_vec`` (camera frame, y up) -> unit gaze in the normalised frame (y down)."""
    v = np.asarray(look_vec, dtype=np.float64).reshape(-1)[:3]
    return unit_gaze(v * np.array([1.0, -1.0, 1.0]), what)


def head_pose_from_euler(euler_deg: Any) -> np.ndarray:
    """UnityEyes ``head_pose`` (camera Euler angles, degrees) -> head (pitch, yaw) radians."""
    rot = unity_rotation(np.asarray(euler_deg, dtype=np.float64))
    forward = rot.T @ np.array([0.0, 0.0, 1.0])
    return forward_pitchyaw(forward * np.array([1.0, -1.0, 1.0]))


@dataclass(frozen=True)
class _Rec:
    json: Path
    jpg: Path


def _read_json(rec: _Rec) -> dict[str, Any]:
    try:
        return json.loads(rec.json.read_text())
    except FileNotFoundError:
        raise BadSample(f"{rec.json}: file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadSample(f"{rec.json}: invalid JSON ({exc})") from None


def _get(js: dict[str, Any], path: str, rec: _Rec) -> Any:
    node: Any = js
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise BadSample(f"{rec.json}: missing key {path!r}")
        node = node[part]
    return node


def _points(js: dict[str, Any], key: str, rec: _Rec, height: int, min_n: int) -> np.ndarray:
    raw = _get(js, key, rec)
    if not isinstance(raw, list) or len(raw) < min_n:
        raise BadSample(f"{rec.json}: {key} must list at least {min_n} points")
    pts = np.stack([parse_floats(s, 2, f"{rec.json}: {key}") for s in raw])
    if not np.isfinite(pts).all():
        raise BadSample(f"{rec.json}: {key} has non-finite coordinates")
    return np.stack([pts[:, 0], height - pts[:, 1]], 1)  # y from the bottom -> y from the top


class UnityEyes(Dataset):
    """UnityEyes renders: synthetic RGB eyes with landmark masks, cropped like GazeML."""

    labelled: ClassVar[bool] = True
    needs_root: ClassVar[bool] = True  # reads files from disk (the conformance suite skips it)
    has_masks: ClassVar[bool] = True
    gray: ClassVar[bool] = False
    default_size: ClassVar[tuple[int, int]] = (36, 60)

    def __init__(self, max_head_deg: float | None = None, test_every: int = 10,
                 pupil_ratio: float = 0.45, skip_bad: bool = False) -> None:
        """
        Args:
            max_head_deg: keep only renders whose head pitch and yaw are within this many degrees
                of frontal (GazeML keeps 20); ``None`` keeps all. Filtering reads every JSON it visits.
            test_every: every ``test_every``-th render (in file order) forms split ``test``, the
                rest ``train``; ``unlabelled`` is all. ``0``: every split is all renders.
            pupil_ratio: nominal pupil radius / iris radius (see the module notes: not published).
            skip_bad: drop (and count) renders with a missing or corrupt file, a missing key or a
                NaN/zero look vector instead of stopping; this reads each chosen render once up front.
        """
        self.max_head_deg = max_head_deg
        self.test_every = test_every
        self.pupil_ratio = pupil_ratio
        self.skip_bad = skip_bad

    @staticmethod
    def _folder(root: Path) -> Path:
        if (root / "imgs").is_dir() and not any(root.glob("*.json")):
            return root / "imgs"
        return root

    def _records(self, folder: Path, split: str) -> list[_Rec]:
        stems = [e.name[:-5] for e in os.scandir(folder) if e.name.endswith(".json") and e.is_file()]
        if not stems:
            raise FileNotFoundError(f"unityeyes: no N.json files in {folder}; expected {LAYOUT}")
        stems.sort(key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s))
        k = int(self.test_every)
        if k > 0 and split != "unlabelled":
            stems = [s for i, s in enumerate(stems) if (i % k == k - 1) == (split == "test")]
        return [_Rec(folder / f"{s}.json", folder / f"{s}.jpg") for s in stems]

    def _accept(self, rec: _Rec) -> bool:
        js = _read_json(rec)
        head = np.degrees(head_pose_from_euler(parse_floats(_get(js, "head_pose", rec), 3, f"{rec.json}: head_pose")))
        return bool(np.all(np.abs(head) <= float(self.max_head_deg)))

    def _reader(self, size: tuple[int, int]) -> Any:
        oh, ow = size
        ratio = float(self.pupil_ratio)

        def read(rec: _Rec) -> dict[str, Any]:
            js = _read_json(rec)
            im = open_image(rec.jpg)
            ih = im.size[1]
            interior = _points(js, "interior_margin_2d", rec, ih, 9)
            caruncle = _points(js, "caruncle_2d", rec, ih, 1)
            iris = _points(js, "iris_2d", rec, ih, 3)
            gaze = look_vec_to_gaze(parse_floats(_get(js, "eye_details.look_vec", rec), 3,
                                                 f"{rec.json}: eye_details.look_vec"), f"{rec.json}: look_vec")
            head = head_pose_from_euler(parse_floats(_get(js, "head_pose", rec), 3, f"{rec.json}: head_pose"))
            width = 1.5 * abs(float(caruncle[:, 0].mean() - interior[8, 0]))
            if not np.isfinite(width) or width < 1.0:
                raise BadSample(f"{rec.json}: eye corners coincide; cannot crop")
            mid = (interior.min(0) + interior.max(0)) / 2
            height = width * oh / ow
            box = (mid[0] - width / 2, mid[1] - height / 2, mid[0] + width / 2, mid[1] + height / 2)
            image = crop_resize(im.convert("RGB"), box, size)
            interior_c, iris_c = map_points(interior, box, size), map_points(iris, box, size)
            centre = iris_c.mean(0)
            frac = ratio
            pupil_size = js.get("eye_details", {}).get("pupil_size")
            if pupil_size is not None:
                try:
                    frac = ratio * (1.0 + float(pupil_size))
                except (TypeError, ValueError):
                    raise BadSample(f"{rec.json}: eye_details.pupil_size {pupil_size!r} is not a number") from None
            frac = float(np.clip(frac, 0.1, 0.9))
            mask = rasterise(size, interior_c, iris_c, centre + frac * (iris_c - centre))
            return {"image": image, "gaze": gaze.astype(np.float32), "head_pose": head.astype(np.float32),
                    "mask": mask, "pupil": centre.astype(np.float32)}

        return read

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> LazyEyeData:
        name = self.name or "unityeyes"
        check_split(name, split, self.splits)
        size = check_size(size, self.default_size)
        folder = self._folder(resolve_root(name, root, LAYOUT))
        records = self._records(folder, split)
        read = self._reader(size)
        accept = self._accept if self.max_head_deg is not None else None
        sel = select(records, limit, seed, skip_bad=self.skip_bad, read=read, accept=accept, name=name)
        if not sel.records:
            raise ValueError(f"unityeyes: no render in {folder} passed the filters "
                             f"(max_head_deg={self.max_head_deg}, skipped {sel.skipped})")
        info = {"name": name, "root": str(folder), "split": split, "size": list(size), "gray": False,
                "n_available": len(records), "max_head_deg": self.max_head_deg, **sel.info()}
        return LazyEyeData(sel.records, read, info)
