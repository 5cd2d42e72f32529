"""``mpiigaze``: MPIIGaze's normalised eye patches (real; 15 subjects, 36x60 gray, 3D gaze, head pose).

Layout (the published archive, unchanged)::

    ROOT/Data/Normalized/p00/day01.mat ... p14/dayNN.mat
    ROOT/Evaluation Subset/sample list for eye image/p00.txt ... p14.txt

Each ``dayNN.mat`` holds a struct ``data`` with ``data.left`` and ``data.right``, each with
``image`` (N x 36 x 60 uint8), ``gaze`` (N x 3) and ``pose`` (N x 3, a Rodrigues head rotation),
and a cell array ``filenames`` (N x 1, e.g. ``'0005.jpg'``). Files are MATLAB v5 (read with
scipy) or v7.3 (HDF5, read with h5py; MATLAB stores arrays transposed there, strings as uint16
code units behind object references). The evaluation lists have lines ``day01/0005.jpg left``:
3,000 per person, 45,000 in all.

Sources: field names, shapes and the eval-list format from hysts/pytorch_mpiigaze
``tools/preprocess_mpiigaze.py`` (``data.left.image``, ``mat_data['filenames']``, lines
``path side``) and a MATLAB conversion script of the same files (michaelberks/isbe
``machine_learning/cnn/Mat2HDF5.m``: ``temp.data.left.gaze(num_i, :)``, ``flip(img, 2)``); the
v7.3 layout (groups for structs, ``MATLAB_class`` attributes, transposed arrays, cells as object
references, chars as uint16 with ``MATLAB_int_decode``) from the v7.3 readers of the matio
project. Which of MPIIGaze's files (if any) are v7.3 was not confirmed; both are read.

Conventions, checked against :mod:`gazebench.geometry`: MPIIGaze's gaze is a 3D vector in its
normalised camera frame (x right, y down, z away from the camera; looking at the camera is
(0, 0, -1)), and pytorch_mpiigaze converts it with ``pitch = arcsin(-y), yaw = arctan2(-x, -z)``:
the project's own convention, so the vector is used unchanged (normalised to unit length). Head
pose: forward axis ``-R[:, 2]`` of the Rodrigues rotation, i.e. ``pitch = arcsin(R[1, 2])``,
``yaw = arctan2(R[0, 2], R[2, 2])``, pytorch_mpiigaze's ``convert_pose``. Right eyes are flipped
horizontally and their gaze mirrored (x negated, hence yaw negated) and head yaw negated, as
that protocol does (``image[:, ::-1]``, ``* [1, -1]``).

License: CC BY-NC-SA 4.0 (Zhang, Sugano, Fritz, Bulling, CVPR 2015 / TPAMI 2017).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from gazebench.api import Dataset

from ._common import (BadSample, LazyEyeData, centre_box, check_size, check_split, crop_resize,
                      resolve_root, rodrigues_pitchyaw, select, subject_number, unit_gaze)

LAYOUT = ("ROOT/Data/Normalized/pXX/dayNN.mat and "
          "ROOT/Evaluation Subset/sample list for eye image/pXX.txt (the MPIIGaze archive)")
EVAL_DIR = ("Evaluation Subset", "sample list for eye image")
SIDES = ("left", "right")


# ---------------------------------------------------------------------------------------------
# .mat files
# ---------------------------------------------------------------------------------------------

def _mat73_string(f: Any, ref: Any) -> str:
    codes = np.asarray(f[ref]).ravel()
    return "".join(chr(int(c)) for c in codes)


def _read_mat73(path: Path) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        if "data" not in f or "filenames" not in f:
            raise BadSample(f"{path}: MATLAB v7.3 file without the variables 'data' and 'filenames'")
        for side in SIDES:
            if side not in f["data"]:
                raise BadSample(f"{path}: data has no field {side!r}")
            grp = f["data"][side]
            out[side] = {}
            for key in ("image", "gaze", "pose"):
                if key not in grp:
                    raise BadSample(f"{path}: data.{side} has no field {key!r}")
                # MATLAB writes column-major: an N x 36 x 60 array is stored as 60 x 36 x N
                out[side][key] = np.asarray(grp[key]).T
        names = f["filenames"]
        if names.dtype == h5py.ref_dtype:  # a cell array of strings
            out["filenames"] = [_mat73_string(f, ref) for ref in np.asarray(names).ravel()]
        else:  # a char matrix, N rows of codes (stored transposed)
            codes = np.atleast_2d(np.asarray(names).T)
            out["filenames"] = ["".join(chr(int(c)) for c in row).rstrip(" \x00") for row in codes]
    return out


def _field(struct: Any, name: str, path: Path, where: str) -> Any:
    if not hasattr(struct, name):
        raise BadSample(f"{path}: {where} has no field {name!r}")
    return getattr(struct, name)


def _read_mat5(path: Path) -> dict[str, Any]:
    import scipy.io

    mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=False)
    if "data" not in mat or "filenames" not in mat:
        raise BadSample(f"{path}: .mat file without the variables 'data' and 'filenames'")
    data = np.asarray(mat["data"]).ravel()[0]
    out: dict[str, Any] = {}
    for side in SIDES:
        eye = np.asarray(_field(data, side, path, "data")).ravel()[0]
        out[side] = {key: np.asarray(_field(eye, key, path, f"data.{side}")) for key in ("image", "gaze", "pose")}
    out["filenames"] = [str(np.asarray(v).ravel()[0]) if np.asarray(v).size else ""
                        for v in np.asarray(mat["filenames"], dtype=object).ravel()]
    return out


def read_day(path: Path) -> dict[str, Any]:
    """One ``dayNN.mat`` (v5 or v7.3) as ``{left|right: {image, gaze, pose}, filenames, index}``;
    a :class:`BadSample` naming the file when it is missing, corrupt or shaped wrongly."""
    import h5py

    if not path.is_file():
        raise BadSample(f"{path}: file is missing")
    try:
        day = _read_mat73(path) if h5py.is_hdf5(str(path)) else _read_mat5(path)
    except BadSample:
        raise
    except Exception as exc:
        raise BadSample(f"{path}: corrupt or unreadable .mat file ({type(exc).__name__}: {exc})") from None
    n = len(day["filenames"])
    for side in SIDES:
        img, gaze, pose = (day[side][k] for k in ("image", "gaze", "pose"))
        if n == 1 and img.ndim == 2:  # MATLAB drops a leading singleton nowhere, but be lenient
            img, gaze, pose = img[None], gaze.reshape(1, -1), pose.reshape(1, -1)
        if img.ndim != 3 or img.shape[0] != n:
            raise BadSample(f"{path}: data.{side}.image has shape {img.shape}; expected ({n}, 36, 60) "
                            f"for {n} filenames")
        if gaze.shape != (n, 3) or pose.shape != (n, 3):
            raise BadSample(f"{path}: data.{side}.gaze/pose have shapes {gaze.shape}/{pose.shape}; "
                            f"expected ({n}, 3)")
        day[side] = {"image": img.astype(np.uint8, copy=False), "gaze": gaze.astype(np.float64),
                     "pose": pose.astype(np.float64)}
    day["index"] = {name: i for i, name in enumerate(day["filenames"])}
    return day


def read_eval_list(path: Path) -> list[tuple[str, str, str]]:
    """``(day, filename, side)`` per line of an evaluation list (``day01/0005.jpg left``)."""
    if not path.is_file():
        raise FileNotFoundError(f"mpiigaze: evaluation list {path} is missing; expected {LAYOUT}")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or "/" not in parts[0] or parts[1] not in SIDES:
            raise ValueError(f"{path}:{lineno}: expected 'dayNN/NNNN.jpg left|right', got {line.strip()!r}")
        day, _, name = parts[0].partition("/")
        rows.append((day, name, parts[1]))
    return rows


# ---------------------------------------------------------------------------------------------
# the dataset
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Rec:
    subject: int
    day: Path
    name: str | None  # evaluation protocol: the file name; "all": None and ``index`` is used
    index: int
    side: str


class _DayCache:
    """The last few day files read (a batch visits them in order, so a few suffice)."""

    def __init__(self, size: int = 4) -> None:
        self.size, self.items = size, OrderedDict()

    def get(self, path: Path) -> dict[str, Any]:
        if path in self.items:
            self.items.move_to_end(path)
            return self.items[path]
        day = read_day(path)
        self.items[path] = day
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return day


class MPIIGaze(Dataset):
    """MPIIGaze normalised eye patches: real, 15 subjects, leave-one-subject-out folds."""

    labelled: ClassVar[bool] = True
    needs_root: ClassVar[bool] = True  # reads files from disk (the conformance suite skips it)
    gray: ClassVar[bool] = True
    default_size: ClassVar[tuple[int, int]] = (36, 60)

    def __init__(self, subjects: Sequence[int] | None = None, test_subject: int | None = None,
                 protocol: str = "evaluation", flip_right: bool = True, skip_bad: bool = False) -> None:
        """
        Args:
            subjects: subject numbers to use (``[0, 1]`` = p00, p01); ``None``: every ``pXX`` found.
            test_subject: the leave-one-subject-out fold: split ``test`` is this subject, ``train``
                and ``unlabelled`` are the other selected subjects. ``None``: every split is all
                selected subjects (MPIIGaze only as the real test set, as in the paper).
            protocol: ``evaluation`` (the published 3,000 samples per person) or ``all`` (every
                left and right eye in the .mat files).
            flip_right: mirror right eyes (image, gaze x, head yaw) so every eye looks like a left one.
            skip_bad: drop (and count in ``info``) unreadable files and NaN/zero gaze instead of stopping.
        """
        self.subjects = subjects
        self.test_subject = test_subject
        self.protocol = protocol
        self.flip_right = flip_right
        self.skip_bad = skip_bad

    # -- which samples ---------------------------------------------------------------------
    def _subjects(self, norm: Path) -> list[int]:
        found = sorted(n for p in norm.iterdir() if p.is_dir() and p.name.startswith("p")
                       for n in [subject_number(p.name)] if n is not None)
        if not found:
            raise FileNotFoundError(f"mpiigaze: no subject folders pXX in {norm}; expected {LAYOUT}")
        if self.subjects is None:
            return found
        wanted = [int(s) for s in (self.subjects if isinstance(self.subjects, (list, tuple)) else [self.subjects])]
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise ValueError(f"mpiigaze.subjects: {missing} not found in {norm} (found {found})")
        return sorted(set(wanted))

    def split_subjects(self, split: str, available: Sequence[int]) -> list[int]:
        """The subjects of ``split`` under the leave-one-subject-out setting."""
        if self.test_subject is None:
            return list(available)
        k = int(self.test_subject)
        if k not in available:
            raise ValueError(f"mpiigaze.test_subject={k} is not among the selected subjects {list(available)}")
        return [k] if split == "test" else [s for s in available if s != k]

    def _records(self, root: Path, subjects: Sequence[int]) -> list[_Rec]:
        norm = root / "Data" / "Normalized"
        recs: list[_Rec] = []
        for s in subjects:
            folder = norm / f"p{s:02d}"
            if self.protocol == "evaluation":
                for day, name, side in read_eval_list(root.joinpath(*EVAL_DIR) / f"p{s:02d}.txt"):
                    recs.append(_Rec(s, folder / f"{day}.mat", name, -1, side))
            else:
                for day_path in sorted(folder.glob("day*.mat")):
                    try:
                        names = read_day(day_path)["filenames"]
                    except BadSample:
                        if not self.skip_bad:
                            raise
                        names = [None]  # one record that fails again when read, so it is counted
                    recs += [_Rec(s, day_path, None, i, side) for side in SIDES for i in range(len(names))]
        return recs

    # -- reading ---------------------------------------------------------------------------
    def _reader(self, size: tuple[int, int]) -> Any:
        cache = _DayCache()
        flip = self.flip_right

        def read(rec: _Rec) -> dict[str, Any]:
            day = cache.get(rec.day)
            i = rec.index
            if rec.name is not None:
                if rec.name not in day["index"]:
                    raise BadSample(f"{rec.day}: no image {rec.name!r} named in its filenames "
                                    f"(listed in the evaluation subset)")
                i = day["index"][rec.name]
            if not 0 <= i < len(day["filenames"]):
                raise BadSample(f"{rec.day}: sample {i} out of range")
            eye = day[rec.side]
            where = f"{rec.day} {day['filenames'][i]} {rec.side}"
            img = eye["image"][i]
            gaze = unit_gaze(eye["gaze"][i], where)
            head = rodrigues_pitchyaw(eye["pose"][i], where)
            if flip and rec.side == "right":
                img = img[:, ::-1]
                gaze = gaze * np.array([-1.0, 1.0, 1.0])
                head = head * np.array([1.0, -1.0])
            img = np.ascontiguousarray(img)
            if img.shape != tuple(size):
                from PIL import Image

                pil = Image.fromarray(img)
                img = crop_resize(pil, centre_box(img.shape[0], img.shape[1], size), size)[0]
            return {"image": img[None], "gaze": gaze.astype(np.float32), "head_pose": head.astype(np.float32),
                    "subject": rec.subject}

        return read

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> LazyEyeData:
        name = self.name or "mpiigaze"
        check_split(name, split, self.splits)
        if self.protocol not in ("evaluation", "all"):
            raise ValueError(f"mpiigaze.protocol={self.protocol!r}: choose 'evaluation' or 'all'")
        size = check_size(size, self.default_size)
        root = resolve_root(name, root, LAYOUT)
        norm = root / "Data" / "Normalized"
        if not norm.is_dir():
            raise FileNotFoundError(f"mpiigaze: {norm} is missing; expected {LAYOUT}")
        subjects = self.split_subjects(split, self._subjects(norm))
        records = self._records(root, subjects)
        if not records:
            raise ValueError(f"mpiigaze: no samples for subjects {subjects} under {root}")
        read = self._reader(size)
        sel = select(records, limit, seed, skip_bad=self.skip_bad, read=read, name=name)
        info = {"name": name, "root": str(root), "split": split, "protocol": self.protocol,
                "subjects": subjects, "test_subject": self.test_subject, "size": list(size),
                "gray": True, "n_available": len(records), **sel.info()}
        return LazyEyeData(sel.records, read, info)
