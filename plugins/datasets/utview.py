"""``utview``: UT Multiview (Sugano, Matsushita, Sato, CVPR 2014): 50 subjects, 36x60 eye images.

Layout (the published archive)::

    ROOT/s00/synth/000_left.csv  000_left.zip  000_right.csv  000_right.zip ... 159_*
    ROOT/s00/test/000_left.csv   000_left.zip  ...
    ...  ROOT/s49/

Each ``NNN_{left,right}.zip`` holds the eye images of one gaze sample (``00000000.bmp``,
``00000001.bmp``, ...; 144 synthesised views in ``synth``, 8 real views in ``test``) and the
``.csv`` beside it one row per image, no header: gaze (3), head pose as a Rodrigues vector (3),
head translation (3). Row ``j`` belongs to the ``j``-th image in name order. A zip that was
extracted in place (``NNN_left/00000000.bmp``) is read too.

Sources: public loaders of the dataset (a ``UTMULTIVIEW`` torch Dataset that reads
``s%02d/test/%03d_left.csv``, columns ``[:9]``, images ``%03d_left/%08d.bmp`` and converts gaze with
``pitch = arcsin(-y), yaw = arctan2(-x, -z)``; a ``UTMultiviewFromSynthDataset`` that opens
``synth/NNN_left.zip`` and reads gaze ``d[:3]``, rotation ``d[3:6]``, translation ``d[6:9]``). The
dataset's own README was not found: the column meaning and the eye-image frame are those
loaders' reading. Gaze is taken to be in the normalised camera frame of MPIIGaze (which adopted
this dataset's normalisation): used unchanged, unit-normalised. Head pose converts like
MPIIGaze's (forward axis ``-R[:, 2]``). Right eyes are mirrored as for MPIIGaze (a choice, made so
both eyes look alike, not a published protocol of this dataset).

License: research use; see the dataset's page (Sugano et al., University of Tokyo).
"""

from __future__ import annotations

import bisect
import io
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from gazebench.api import Dataset

from ._common import (BadSample, LazyEyeData, centre_box, check_size, check_split, crop_resize,
                      resolve_root, rodrigues_pitchyaw, select, subject_number, unit_gaze)

LAYOUT = "ROOT/sXX/{synth,test}/NNN_{left,right}.csv with NNN_{left,right}.zip (the UT Multiview archive)"


@dataclass(frozen=True)
class _Group:
    subject: int
    csv: Path
    side: str
    n: int


class _Index(Sequence):
    """(group, row) pairs without materialising millions of tuples."""

    def __init__(self, groups: list[_Group]) -> None:
        self.groups = groups
        self.ends = np.cumsum([g.n for g in groups]).tolist()

    def __len__(self) -> int:
        return int(self.ends[-1]) if self.ends else 0

    def __getitem__(self, i: int) -> tuple[int, int]:  # type: ignore[override]
        g = bisect.bisect_right(self.ends, i)
        return g, i - (self.ends[g - 1] if g else 0)


def read_csv(path: Path) -> np.ndarray:
    """The first 9 columns of a UT Multiview csv as float64 (rows x 9)."""
    try:
        rows = [line.split(",") for line in path.read_text().splitlines() if line.strip()]
        data = np.array([[float(v) for v in r[:9]] for r in rows], dtype=np.float64)
    except FileNotFoundError:
        raise BadSample(f"{path}: file is missing") from None
    except ValueError as exc:
        raise BadSample(f"{path}: not a numeric csv ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 9:
        raise BadSample(f"{path}: expected 9 columns (gaze 3, head rotation 3, translation 3), got {data.shape}")
    return data


class _Images:
    """The images of one csv: its zip (or extracted folder), members in name order."""

    def __init__(self, csv: Path) -> None:
        stem = csv.with_suffix("")
        self.zip_path, self.dir = stem.with_suffix(".zip"), stem
        if self.zip_path.is_file():
            try:
                self.zip = zipfile.ZipFile(self.zip_path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise BadSample(f"{self.zip_path}: corrupt zip ({exc})") from None
            self.names = sorted(n for n in self.zip.namelist() if not n.endswith("/"))
            self.where = self.zip_path
        elif self.dir.is_dir():
            self.zip = None
            self.names = sorted(p.name for p in self.dir.iterdir() if p.is_file())
            self.where = self.dir
        else:
            raise BadSample(f"{csv}: neither {self.zip_path.name} nor {self.dir.name}/ beside it")

    def open(self, j: int) -> Any:
        from PIL import Image

        what = f"{self.where}/{self.names[j]}"
        try:
            data = self.zip.read(self.names[j]) if self.zip else (self.dir / self.names[j]).read_bytes()
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return im.copy()
        except Exception as exc:
            raise BadSample(f"{what}: corrupt or unreadable image ({type(exc).__name__}: {exc})") from None


class UTMultiview(Dataset):
    """UT Multiview eye images (36x60 gray), synthesised (``synth``) or real (``test``) views."""

    labelled: ClassVar[bool] = True
    needs_root: ClassVar[bool] = True  # reads files from disk (the conformance suite skips it)
    gray: ClassVar[bool] = True
    default_size: ClassVar[tuple[int, int]] = (36, 60)

    def __init__(self, part: str = "synth", subjects: Sequence[int] | None = None,
                 test_subject: int | None = None, eyes: str = "both", flip_right: bool = True,
                 skip_bad: bool = False) -> None:
        """
        Args:
            part: ``synth`` (144 synthesised views per gaze sample) or ``test`` (8 real views).
            subjects: subject numbers (``s00`` = 0); ``None``: every ``sXX`` found.
            test_subject: leave-one-subject-out fold (split ``test`` = this subject, the others
                ``train``/``unlabelled``); ``None``: every split is all selected subjects.
            eyes: ``both``, ``left`` or ``right``.
            flip_right: mirror right eyes (image, gaze x, head yaw).
            skip_bad: drop (and count) unreadable files and NaN/zero gaze instead of stopping.
        """
        self.part = part
        self.subjects = subjects
        self.test_subject = test_subject
        self.eyes = eyes
        self.flip_right = flip_right
        self.skip_bad = skip_bad

    def _subjects(self, root: Path, split: str) -> list[int]:
        found = sorted(n for p in root.iterdir() if p.is_dir() and p.name.startswith("s")
                       for n in [subject_number(p.name)] if n is not None)
        if not found:
            raise FileNotFoundError(f"utview: no subject folders sXX in {root}; expected {LAYOUT}")
        chosen = found
        if self.subjects is not None:
            wanted = [int(s) for s in (self.subjects if isinstance(self.subjects, (list, tuple)) else [self.subjects])]
            if set(wanted) - set(found):
                raise ValueError(f"utview.subjects: {sorted(set(wanted) - set(found))} not found in {root}")
            chosen = sorted(set(wanted))
        if self.test_subject is None:
            return chosen
        k = int(self.test_subject)
        if k not in chosen:
            raise ValueError(f"utview.test_subject={k} is not among the selected subjects {chosen}")
        return [k] if split == "test" else [s for s in chosen if s != k]

    def _groups(self, root: Path, subjects: Sequence[int]) -> list[_Group]:
        sides = ("left", "right") if self.eyes == "both" else (self.eyes,)
        groups = []
        for s in subjects:
            folder = root / f"s{s:02d}" / self.part
            csvs = sorted(p for side in sides for p in folder.glob(f"*_{side}.csv"))
            if not csvs:
                raise FileNotFoundError(f"utview: no NNN_{{left,right}}.csv in {folder}; expected {LAYOUT}")
            for csv in csvs:
                try:
                    n = len(read_csv(csv))
                except BadSample:
                    if not self.skip_bad:
                        raise
                    n = 1  # one record that fails again when read, so it is counted
                groups.append(_Group(s, csv, csv.stem.rsplit("_", 1)[1], n))
        return groups

    def _reader(self, groups: list[_Group], size: tuple[int, int]) -> Any:
        cache: OrderedDict[Path, tuple[np.ndarray, _Images]] = OrderedDict()
        flip = self.flip_right

        def group(g: _Group) -> tuple[np.ndarray, _Images]:
            if g.csv not in cache:
                rows, images = read_csv(g.csv), _Images(g.csv)
                if len(images.names) != len(rows):
                    raise BadSample(f"{images.where}: {len(images.names)} images for {len(rows)} rows of {g.csv}")
                cache[g.csv] = (rows, images)
                if len(cache) > 8:
                    cache.popitem(last=False)
            cache.move_to_end(g.csv)
            return cache[g.csv]

        def read(rec: tuple[int, int]) -> dict[str, Any]:
            g = groups[rec[0]]
            rows, images = group(g)
            j = rec[1]
            where = f"{g.csv} row {j + 1}"
            gaze = unit_gaze(rows[j, :3], where)
            head = rodrigues_pitchyaw(rows[j, 3:6], where)
            im = images.open(j).convert("L")
            arr = np.asarray(im, dtype=np.uint8)
            if flip and g.side == "right":
                arr = np.ascontiguousarray(arr[:, ::-1])
                gaze = gaze * np.array([-1.0, 1.0, 1.0])
                head = head * np.array([1.0, -1.0])
            if arr.shape != tuple(size):
                from PIL import Image

                arr = crop_resize(Image.fromarray(arr), centre_box(*arr.shape, size), size)[0]
            return {"image": arr[None], "gaze": gaze.astype(np.float32), "head_pose": head.astype(np.float32),
                    "subject": g.subject}

        return read

    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> LazyEyeData:
        name = self.name or "utview"
        check_split(name, split, self.splits)
        if self.part not in ("synth", "test"):
            raise ValueError(f"utview.part={self.part!r}: choose 'synth' or 'test'")
        if self.eyes not in ("both", "left", "right"):
            raise ValueError(f"utview.eyes={self.eyes!r}: choose 'both', 'left' or 'right'")
        size = check_size(size, self.default_size)
        root = resolve_root(name, root, LAYOUT)
        subjects = self._subjects(root, split)
        groups = self._groups(root, subjects)
        index = _Index(groups)
        read = self._reader(groups, size)
        sel = select(index, limit, seed, skip_bad=self.skip_bad, read=read, name=name)
        info = {"name": name, "root": str(root), "split": split, "part": self.part, "subjects": subjects,
                "test_subject": self.test_subject, "size": list(size), "gray": True,
                "n_available": len(index), **sel.info()}
        return LazyEyeData(sel.records, read, info)
