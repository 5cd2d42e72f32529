"""Helpers shared by the purifiers: image conversions, devices, progress bars, fingerprints."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn.functional as F

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
    """``auto``/``None`` -> cuda, then mps, then cpu; anything else as given."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    return torch.device(device)


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
    """A short hash of a configuration and (a sample of) the data it is fitted on."""
    h = hashlib.sha1(json.dumps(config, sort_keys=True, default=repr).encode())
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        flat = t.reshape(t.shape[0], -1) if t.ndim else t.reshape(1, 1)
        sample = torch.cat([flat[:32], flat[-32:]]) if flat.shape[0] > 64 else flat
        h.update(sample.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@contextmanager
def progress_bar(total: int, text: str, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``advance(n, **fields)``. Silent when disabled."""
    if not enabled:
        yield lambda n=1, **kw: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"))
    with Progress(*cols, console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task(text, total=total, info="")

        def advance(n: int = 1, **fields: Any) -> None:
            prog.update(task, advance=n, info=" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                       for k, v in fields.items()))

        yield advance
