"""``landmarks``: the dataset's own region masks (renderer, UnityEyes), passed through.

A renderer knows where the pupil, iris and sclera are: its masks come from its own geometry and
are exact. This component says so in the segmenter interface: :meth:`LandmarksSegmenter.segment_batch`
returns ``batch.masks``, and :meth:`LandmarksSegmenter.segment` — images alone — refuses with a
one-line error, because nothing can be read off pixels without a model, and inventing masks
there would be dishonest. In ``gazebench run`` the same choice is ``--masks dataset``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from gazebench.api import Segmenter
from gazebench.types import EyeBatch

#: the one line both methods fail with
NO_MASKS = ("segmenter 'landmarks' only passes through a dataset's own masks (renderer or UnityEyes "
            "landmarks) and cannot segment bare images; use --masks unet or --masks threshold for data "
            "without masks")


class LandmarksSegmenter(Segmenter):
    """The dataset's own masks; fails clearly on images that come without them."""

    test_params: ClassVar[dict[str, Any]] = {}
    #: this segmenter cannot segment bare images (see the module docstring)
    segments_images: ClassVar[bool] = False

    def __init__(self) -> None:
        pass

    def segment_batch(self, batch: EyeBatch) -> torch.Tensor:
        """``batch.masks`` (uint8 (N, H, W)), or a one-line error when the batch has none."""
        if batch.masks is None:
            raise ValueError(NO_MASKS)
        return batch.masks

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """Always a one-line ``ValueError``: bare images carry no landmarks."""
        raise ValueError(NO_MASKS)
