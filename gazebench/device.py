"""Devices and seeds: the one place a device string is resolved and a run is seeded.

Imports torch only when called, so modules that merely list or describe things stay fast.
"""

from __future__ import annotations

import random
from typing import Any


class DeviceError(ValueError):
    """A device that does not exist on this machine, in one line."""


def resolve_device(device: Any = "auto") -> str:
    """``auto``/``None`` -> cuda, then mps, then cpu; anything else is checked and returned.

    Raises :class:`DeviceError` naming the fix when the device is unavailable or unknown.
    """
    import torch

    device = "auto" if device is None else str(device)
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
    if device == "mps" and not has_mps:
        raise DeviceError("--device mps: MPS is not available on this machine; use --device cpu or auto")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise DeviceError(f"--device {device!r}: expected auto, cpu, mps, cuda or cuda:N")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (every device) with ``seed``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


__all__ = ["DeviceError", "resolve_device", "seed_everything"]
