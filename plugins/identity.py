"""The ``identity`` purifier."""

from __future__ import annotations

import torch

from gazebench.api import Purifier
from gazebench.types import EyeBatch


class IdentityPurifier(Purifier):
    """Returns its input unchanged: the raw baseline as a purifier."""

    noop = True
    default_rank = 1  # `gazebench run` without --purifier: raw images only

    def __init__(self) -> None:
        pass

    def purify(self, batch: EyeBatch) -> torch.Tensor:
        return batch.images.clone()
