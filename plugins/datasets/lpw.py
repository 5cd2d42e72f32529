"""``lpw``: Labelled Pupils in the Wild (Tonsen, Zhang, Sugano, Bulling, ETRA 2016).

Real, head-mounted eye-camera videos: 22 participants, 66 videos at about 95 FPS, indoors and
outdoors, 640x480, with the pupil centre of every frame. No gaze: these are unlabelled real
content images for purifiers and references for the pupil-preservation metric.

Layout (the published archive)::

    ROOT/1/1.avi  ROOT/1/1.txt  ROOT/1/2.avi ...  ROOT/22/...

``V.txt`` has one line per frame of ``V.avi``: the pupil centre ``x y`` in pixels, separated by a
space. Frames are decoded on demand with PyAV (FFmpeg), so the codec does not matter.

Sources: the layout and the line format from a public LPW benchmark script (``LPW.py``:
``Path(LPW_path).rglob("*.avi")``, ``video_file.with_suffix(".txt")``, ``csv.reader(f,
delimiter=' ', quoting=csv.QUOTE_NONNUMERIC)``, ``target_x = target[0], target_y = target[1]``,
one target per decoded frame); counts from the dataset's page. Not confirmed: the video codec,
whether coordinates are pixel centres or corners (taken as centres), and how frames without a
visible pupil are marked (a non-finite or negative centre is treated as a bad sample).

Images: ``crop="frame"`` (default) takes the largest centred box of the requested aspect ratio;
``crop="pupil"`` a box ``crop_width`` px wide centred on the labelled pupil (kept inside the
frame). Gray (the camera is infrared).

License: non-commercial scientific use only (see the dataset's page).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gazebench.api import Dataset

from ._common import (BadSample, LazyEyeData, centre_box, check_size, check_split, crop_resize,
                      map_points, resolve_root, select, subject_number)

LAYOUT = "ROOT/<participant>/<video>.avi with <video>.txt (one 'x y' pupil centre per frame) beside it"


def read_centres(path: Path) -> np.ndarray:
    """(frames, 2) pupil centres of one LPW annotation file."""
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        data = np.array([[float(v) for v in r[:2]] for r in rows], dtype=np.float64)
    except FileNotFoundError:
        raise FileNotFoundError(f"lpw: annotation {path} is missing; expected {LAYOUT}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: expected lines 'x y' of numbers ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 2:
        raise ValueError(f"{path}: expected lines 'x y', got shape {data.shape}")
    return data


@dataclass(frozen=True)
class _Rec:
    video: Path
    frame: int
    x: float
    y: float
    subject: int


class _Decoder:
    """Sequential access into one video; seeking backwards reopens it."""

    def __init__(self, path: Path) -> None:
        try:
            import av
        except ImportError:
            raise ImportError("lpw needs PyAV to decode videos: pip install av") from None
        self.av, self.path = av, path
        self._open()

    def _open(self) -> None:
        try:
            self.container = self.av.open(str(self.path))
            self.frames = self.container.decode(video=0)
        except Exception as exc:
            raise BadSample(f"{self.path}: cannot open video ({type(exc).__name__}: {exc})") from None
        self.next = 0

    def frame(self, k: int) -> Any:
        if k < self.next:
            self.close()
            self._open()
        try:
            while True:
                f = next(self.frames)
                self.next += 1
                if self.next - 1 == k:
                    return f.to_image()
        except StopIteration:
            raise BadSample(f"{self.path}: has {self.next} frames, annotation asks for frame {k + 1}") from None
        except BadSample:
            raise
        except Exception as exc:
            raise BadSample(f"{self.path}: corrupt video at frame {k + 1} ({type(exc).__name__}: {exc})") from None

    def close(self) -> None:
        self.container.close()


class LPW(Dataset):
    """Labelled Pupils in the Wild: real IR eye-video frames with pupil centres, no gaze."""

    labelled: ClassVar[bool] = False
    needs_root: ClassVar[bool] = True  # reads files from disk (the conformance suite skips it)
    gray: ClassVar[bool] = True
    default_size: ClassVar[tuple[int, int]] = (36, 60)
    splits: ClassVar[tuple[str, ...]] = ("unlabelled",)

    def __init__(self, crop: str = "frame", crop_width: int = 320, subjects: list[int] | None = None,
                 skip_bad: bool = False) -> None:
        """
        Args:
            crop: ``frame`` (centred box of the whole frame) or ``pupil`` (box around the pupil).
            crop_width: box width in source pixels for ``crop="pupil"``.
            subjects: participant numbers (folder names) to use; ``None``: all.
            skip_bad: drop (and count) frames that fail to decode or have no valid pupil centre.
        """
        self.crop = crop
        self.crop_width = crop_width
        self.subjects = subjects
        self.skip_bad = skip_bad

    def _records(self, root: Path) -> list[_Rec]:
        videos = sorted(root.glob("*/*.avi"), key=lambda p: (subject_number(p.parent.name) or 0, p.parent.name,
                                                             subject_number(p.stem) or 0, p.stem))
        if not videos:
            raise FileNotFoundError(f"lpw: no <participant>/<video>.avi under {root}; expected {LAYOUT}")
        recs = []
        for v in videos:
            subj = subject_number(v.parent.name)
            subj = -1 if subj is None else subj
            if self.subjects is not None and subj not in [int(s) for s in self.subjects]:
                continue
            for k, (x, y) in enumerate(read_centres(v.with_suffix(".txt"))):
                recs.append(_Rec(v, k, float(x), float(y), subj))
        if not recs:
            raise ValueError(f"lpw: no annotated frames under {root} for subjects {self.subjects}")
        return recs

    def _reader(self, size: tuple[int, int]) -> Any:
        oh, ow = size
        decoders: OrderedDict[Path, _Decoder] = OrderedDict()

        def decoder(path: Path) -> _Decoder:
            if path not in decoders:
                decoders[path] = _Decoder(path)
                if len(decoders) > 2:
                    decoders.popitem(last=False)[1].close()
            decoders.move_to_end(path)
            return decoders[path]

        def read(rec: _Rec) -> dict[str, Any]:
            if not (np.isfinite(rec.x) and np.isfinite(rec.y)) or rec.x < 0 or rec.y < 0:
                raise BadSample(f"{rec.video.with_suffix('.txt')} line {rec.frame + 1}: no valid pupil "
                                f"centre ({rec.x}, {rec.y})")
            im = decoder(rec.video).frame(rec.frame).convert("L")
            w, h = im.size
            if self.crop == "pupil":
                bw = float(min(self.crop_width, w, h * ow / oh))
                bh = bw * oh / ow
                x0 = float(np.clip(rec.x + 0.5 - bw / 2, 0, w - bw))
                y0 = float(np.clip(rec.y + 0.5 - bh / 2, 0, h - bh))
                box = (x0, y0, x0 + bw, y0 + bh)
            else:
                box = centre_box(h, w, size)
            pupil = map_points(np.array([[rec.x + 0.5, rec.y + 0.5]]), box, size)[0]
            if not (-0.5 <= pupil[0] <= ow - 0.5 and -0.5 <= pupil[1] <= oh - 0.5):
                raise BadSample(f"{rec.video} frame {rec.frame + 1}: the pupil ({rec.x}, {rec.y}) falls "
                                f"outside the {self.crop} crop")
            return {"image": crop_resize(im, box, size), "pupil": pupil.astype(np.float32),
                    "subject": rec.subject}

        return read

    def load(self, split: str = "unlabelled", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> LazyEyeData:
        name = self.name or "lpw"
        check_split(name, split, self.splits)
        if self.crop not in ("frame", "pupil"):
            raise ValueError(f"lpw.crop={self.crop!r}: choose 'frame' or 'pupil'")
        size = check_size(size, self.default_size)
        root = resolve_root(name, root, LAYOUT)
        records = self._records(root)
        read = self._reader(size)
        sel = select(records, limit, seed, skip_bad=self.skip_bad, read=read, name=name)
        info = {"name": name, "root": str(root), "split": split, "crop": self.crop, "size": list(size),
                "gray": True, "n_available": len(records), **sel.info()}
        return LazyEyeData(sel.records, read, info)
