"""Devices and seeds: the one place a device string is resolved and a run is seeded, and the
device-side pieces of timing (synchronise, autocast, cuDNN settings).

Imports torch only when called, so modules that merely list or describe things stay fast.
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any, Callable, Iterator


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


def synchronize(device: Any) -> None:
    """Wait for ``device``'s queued work (CUDA and MPS run asynchronously; the CPU does not)."""
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize(torch.device(device))
    elif kind == "mps":
        torch.mps.synchronize()


#: ``--dtype`` spellings -> torch dtypes (``None``: fp32, no autocast)
AUTOCAST_DTYPES = {"fp32": None, "float32": None, "bf16": "bfloat16", "bfloat16": "bfloat16",
                   "fp16": "float16", "float16": "float16"}


@contextlib.contextmanager
def autocast(device: Any, dtype: str | None) -> Iterator[None]:
    """``torch.autocast`` on ``device``'s type at ``dtype`` (bf16/fp16); fp32/None: no autocast."""
    import torch

    name = AUTOCAST_DTYPES.get(dtype or "fp32", "unknown")
    if name == "unknown":
        raise ValueError(f"dtype={dtype!r}: expected one of {', '.join(AUTOCAST_DTYPES)}")
    if name is None:
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, name)):
        yield


def time_calls(fn: Callable[[], Any], device: Any, *, warmup: int = 1, repeats: int = 5) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones.

    The device is synchronised before each clock start and *inside* the timed region, after the
    call: on CUDA a call returns once its kernels are queued, so a clock stopped without it
    measures the launch, not the work.
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return times


def cuda_settings(benchmark: bool | None = None) -> dict[str, Any]:
    """Set cuDNN's autotuner when ``benchmark`` is given (it pays off for fixed input sizes:
    the first call of each shape tries the algorithms), and return the settings that change
    CUDA timings (cuDNN benchmark/deterministic, TF32 for matmul and conv, versions)."""
    import torch

    if benchmark is not None:
        torch.backends.cudnn.benchmark = bool(benchmark)
    cuda = torch.cuda.is_available()
    return {"cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
            "matmul_precision": torch.get_float32_matmul_precision(),
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "device_name": torch.cuda.get_device_name() if cuda else None}


__all__ = ["AUTOCAST_DTYPES", "DeviceError", "autocast", "cuda_settings", "resolve_device", "seed_everything",
           "synchronize", "time_calls"]
