"""``folder``: any folder of images (COCO val, LPW frames, your own), unlabelled.

For purifier content/style sets and the style-objective comparison (the paper scores methods on
COCO val images). Every ``.jpg/.jpeg/.png/.bmp/.tif/.tiff/.webp/.pgm/.ppm`` file under ``ROOT``
(recursively, in path order) is one sample, decoded on demand with Pillow, cropped to the
requested aspect ratio about its centre (or stretched with ``crop="none"``) and resized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gazebench.api import Dataset

from ._common import (LazyEyeData, centre_box, check_size, check_split, crop_resize, open_image,
                      resolve_root, select, to_mode)

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
LAYOUT = f"image files ({', '.join(EXTENSIONS)}) anywhere under ROOT"


@dataclass(frozen=True)
class _Rec:
    path: Path


class ImageFolder(Dataset):
    """Any folder of images, unlabelled (purifier content/style, the style-objective comparison)."""

    labelled: ClassVar[bool] = False
    needs_root: ClassVar[bool] = True  # reads files from disk (the conformance suite skips it)
    gray: ClassVar[bool] = False
    default_size: ClassVar[tuple[int, int]] = (256, 256)
    splits: ClassVar[tuple[str, ...]] = ("unlabelled",)

    def __init__(self, color: str = "rgb", crop: str = "center", recursive: bool = True,
                 skip_bad: bool = False) -> None:
        """
        Args:
            color: ``rgb`` (3 channels) or ``gray`` (1 channel).
            crop: ``center`` (largest centred box of the requested aspect) or ``none`` (stretch).
            recursive: also take images in sub-folders.
            skip_bad: drop (and count) unreadable images instead of stopping.
        """
        self.color = color
        self.crop = crop
        self.recursive = recursive
        self.skip_bad = skip_bad

    def load(self, split: str = "unlabelled", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None, seed: int = 0) -> LazyEyeData:
        name = self.name or "folder"
        check_split(name, split, self.splits)
        if self.color not in ("rgb", "gray"):
            raise ValueError(f"{name}.color={self.color!r}: choose 'rgb' or 'gray'")
        if self.crop not in ("center", "none"):
            raise ValueError(f"{name}.crop={self.crop!r}: choose 'center' or 'none'")
        size = check_size(size, self.default_size)
        root = resolve_root(name, root, LAYOUT)
        files = root.rglob("*") if self.recursive else root.glob("*")
        records = [_Rec(p) for p in sorted(files) if p.suffix.lower() in EXTENSIONS and p.is_file()]
        if not records:
            raise FileNotFoundError(f"{name}: no images under {root}; expected {LAYOUT}")
        gray, crop = self.color == "gray", self.crop

        def read(rec: _Rec) -> dict[str, Any]:
            im = to_mode(open_image(rec.path), gray)
            w, h = im.size
            box = centre_box(h, w, size) if crop == "center" else (0.0, 0.0, float(w), float(h))
            return {"image": crop_resize(im, box, size)}

        sel = select(records, limit, seed, skip_bad=self.skip_bad, read=read, name=name)
        info = {"name": name, "root": str(root), "split": split, "size": list(size), "gray": gray,
                "n_available": len(records), **sel.info()}
        return LazyEyeData(sel.records, read, info)
