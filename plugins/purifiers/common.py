"""Helpers shared by the purifiers: image conversions, devices, masks, fingerprints."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from gazebench.cache import fingerprint as _fingerprint
from gazebench.progress import progress as progress_bar  # noqa: F401  (the one progress helper, re-exported)
from gazebench.types import EyeBatch, to_gray


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists and anything else unusual as its repr (records, fingerprints)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return repr(value)


def loss_network_of(purifier: Any) -> dict[str, str]:
    """Which network and weight file ``purifier.loss_net`` / ``loss_weights`` resolve to now."""
    from gazebench_plugins.purifiers.losses import resolve_weights

    try:
        arch, file, _ = resolve_weights(purifier.loss_net, purifier.loss_weights)
    except (ValueError, FileNotFoundError) as exc:
        return {"error": str(exc)}
    # name and size, not the path: the same weights installed elsewhere are the same weights
    return {"arch": arch, "weights": f"{file.name} ({file.stat().st_size} bytes)" if file else "random"}


def pick_device(device: str | torch.device | None) -> torch.device:
    """``auto``/``None`` -> cuda, then mps, then cpu (:func:`gazebench.device.resolve_device`)."""
    from gazebench.device import resolve_device

    return torch.device(resolve_device(device))


def rgb_float(images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, 1|3, H, W) -> float32 (N, 3, H, W) in [0, 255] (gray replicated)."""
    x = images.to(device).float()
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def to_uint8(x: torch.Tensor, channels: int) -> torch.Tensor:
    """float RGB in [0, 255] -> uint8 with ``channels`` channels (BT.601 luma for gray)."""
    out = x.detach().round().clamp(0, 255).to(torch.uint8).cpu()
    return to_gray(out) if channels == 1 else out


def resize_pair(images: torch.Tensor, labels: torch.Tensor | None, size: tuple[int, int] | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Float images (bilinear, antialiased) and label maps (nearest) at ``size`` (H, W)."""
    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images, labels
    images = F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    if labels is not None:
        labels = F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest")[:, 0].to(torch.uint8)
    return images, labels


def need_masks(batch: EyeBatch, who: str, what: str) -> torch.Tensor:
    """``batch.masks`` or a one-line error saying where masks come from."""
    if batch.masks is None:
        raise ValueError(f"purifier {who!r} needs region masks for the {what} images and they have none: "
                         "use a dataset with masks or a segmenter (gazebench run --masks unet|threshold)")
    return batch.masks


def fingerprint(config: dict[str, Any], *tensors: torch.Tensor) -> str:
    """A short hash of a configuration and the data it is fitted on (:func:`gazebench.cache.fingerprint`)."""
    return _fingerprint(config, *tensors)[:16]


# -- speed knobs: precision, memory layout, compilation (``dtype``, ``channels_last``, ``compile``) --

#: the names a purifier's ``dtype`` parameter accepts (aliases of three precisions)
DTYPE_NAMES = ("float32", "bfloat16", "float16", "fp32", "bf16", "fp16")
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def check_knobs(dtype: str, channels_last: Any, compile: Any) -> None:
    """One-line errors for speed-knob values a constructor must refuse before any work."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r}: expected one of {', '.join(DTYPE_NAMES)}")
    for name, value in (("channels_last", channels_last), ("compile", compile)):
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r}: expected true or false")


def autocast(device: torch.device | str, dtype: str) -> Any:
    """Autocast to ``dtype`` on ``device`` (a no-op for float32): convolutions and matmuls run in
    the low precision, reductions and the caller's tensors stay float32."""
    import contextlib

    dt = _DTYPES[dtype]
    if dt == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dt)


def to_layout(x: torch.Tensor | None, channels_last: bool) -> torch.Tensor | None:
    """``x`` in channels-last memory format when asked (4-D tensors only), else unchanged."""
    if x is None or not channels_last or x.ndim != 4:
        return x
    return x.contiguous(memory_format=torch.channels_last)


def knob_module(net: torch.nn.Module, *, channels_last: bool, compile: bool, copy: bool = False) -> torch.nn.Module:
    """``net`` ready for the speed knobs: channels-last parameters, then ``torch.compile``.

    Args:
        copy: convert a deep copy (for a module shared with others, e.g. a cached loss network)
            rather than ``net`` itself; only where ``channels_last`` changes anything.
    """
    if channels_last:
        if copy:
            import copy as _copy

            net = _copy.deepcopy(net)
        net = net.to(memory_format=torch.channels_last)
    if compile:
        net = torch.compile(net)
    return net
