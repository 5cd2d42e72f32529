"""The public conformance kit: checks any component against the gazebench contract.

In the spirit of scikit-learn's ``check_estimator``: a plugin author runs these in their own
test suite, and gazebench runs them on every registered built-in::

    from gazebench.testing import check_estimator
    check_estimator(lambda: MyEstimator(epochs=1))

Each ``check_*`` raises :class:`ConformanceError` naming the broken rule, and returns a list of
the checks that ran. ``make_toy_eyes`` makes tiny labelled data with masks (crude discs; exact
gaze) to check with.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from gazebench.geometry import pitchyaw_to_vector
from gazebench.types import EyeBatch, EyeData, EyeSample


class ConformanceError(AssertionError):
    """A component breaks a rule of its interface."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConformanceError(msg)


# ---------------------------------------------------------------------------------------------
# tiny data
# ---------------------------------------------------------------------------------------------

def _latents(indices: Sequence[int], seed: int, stream: int, k: int) -> torch.Tensor:
    # one small generator per index, so a sample's bytes never depend on the batch it is in
    return torch.stack([torch.rand(k, generator=torch.Generator().manual_seed(
        (seed * 1_000_003 + stream) * 10_000_019 + int(i)), dtype=torch.float64) for i in indices])


def make_toy_eyes(indices: Sequence[int] | int, size: tuple[int, int] = (36, 60), *, seed: int = 0,
                  stream: int = 0, wild: bool = False, channels: int = 1) -> EyeBatch:
    """Crude generated eyes with exact labels: flat discs on a flat face, orthographic.

    The iris centre is the eye centre plus ``R * (g_x, g_y)`` for gaze ``g``, ``R = 0.3 W``, so
    gaze is recoverable from the pupil position. ``wild`` renders the *same* latent eyes with a
    random gain/offset, a lighting ramp, blur and noise. ``pair`` holds the index.

    Args:
        indices: sample indices (or a count ``n`` for ``range(n)``).
        size: (H, W).
        seed, stream: select the latent eyes (``stream`` separates splits).
        wild: the degraded style.
        channels: 1 (gray) or 3 (gray replicated).
    """
    idx = list(range(indices)) if isinstance(indices, int) else [int(i) for i in indices]
    n, (h, w) = len(idx), size
    if n == 0:
        raise ValueError("make_toy_eyes needs at least one index")
    lat = _latents(idx, seed, stream, 8)
    pitch = (lat[:, 0] - 0.5) * math.radians(30)
    yaw = (lat[:, 1] - 0.5) * math.radians(50)
    gaze = pitchyaw_to_vector(torch.stack([pitch, yaw], 1))
    radius = 0.3 * w
    cx = (w - 1) / 2 + radius * gaze[:, 0]
    cy = (h - 1) / 2 + radius * gaze[:, 1]
    ys = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    d = torch.sqrt((xs - cx.view(n, 1, 1)) ** 2 + (ys - cy.view(n, 1, 1)) ** 2)
    sclera = (((xs - (w - 1) / 2) / (0.45 * w)) ** 2 + ((ys - (h - 1) / 2) / (0.33 * h)) ** 2 <= 1)
    sclera = sclera.expand(n, h, w)
    iris_r = (0.12 + 0.02 * lat[:, 2]).view(n, 1, 1) * w
    pupil_r = iris_r * (0.35 + 0.2 * lat[:, 3]).view(n, 1, 1)
    masks = torch.zeros(n, h, w, dtype=torch.uint8)
    masks[sclera] = 1
    masks[sclera & (d <= iris_r)] = 2
    masks[sclera & (d <= pupil_r)] = 3
    img = torch.tensor([170.0, 225.0, 105.0, 25.0], dtype=torch.float64)[masks.long()]
    if wild:
        gain = 0.5 + 0.9 * lat[:, 4].view(n, 1, 1)
        offset = (lat[:, 5].view(n, 1, 1) - 0.5) * 80
        ramp = (lat[:, 6].view(n, 1, 1) - 0.5) * 120 * (xs / max(w - 1, 1) - 0.5)
        img = img * gain + offset + ramp
        img = torch.nn.functional.avg_pool2d(img[:, None], 3, 1, 1, count_include_pad=False)[:, 0]
        noise = torch.stack([torch.randn(h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(
            (seed * 1_000_003 + stream) * 10_000_019 + i + 7)) for i in idx])
        img = img + noise * (4 + 10 * lat[:, 7].view(n, 1, 1))
    images = img.round().clamp(0, 255).to(torch.uint8)[:, None].expand(n, channels, h, w).contiguous()
    return EyeBatch(images=images, gaze=gaze.float(), head_pose=torch.zeros(n, 2), masks=masks,
                    pupil=torch.stack([cx, cy], 1).float(),
                    subject=torch.tensor([i % 5 for i in idx], dtype=torch.int64),
                    pair=torch.tensor(idx, dtype=torch.int64))


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------

def _check_init_stores_params(obj: Any) -> None:
    for key, value in obj.get_params().items():
        _check(hasattr(obj, key), f"{type(obj).__name__}.__init__ does not store parameter {key!r} "
                                  "as an attribute of the same name")


def check_dataset(dataset: Any, *, split: str | None = None, root: str | Path | None = None,
                  size: tuple[int, int] = (36, 60), n: int = 6, seed: int = 0) -> list[str]:
    """Check a Dataset: load, lazy indexing, batch/sample agreement, dtypes, shapes, label ranges."""
    from gazebench.api import Dataset

    ran = []
    _check(isinstance(dataset, Dataset), f"{type(dataset).__name__} is not a gazebench.api.Dataset")
    split = split or dataset.splits[0]
    data = dataset.load(split, root=root, size=size, limit=n, seed=seed)
    _check(isinstance(data, EyeData), f"load() returned {type(data).__name__}, not an EyeData")
    _check(0 < len(data) <= n, f"load(limit={n}) gave {len(data)} samples")
    ran.append("load")
    batch = data.take()
    _check(batch.images.dtype == torch.uint8, f"images are {batch.images.dtype}, not uint8")
    _check(batch.size == tuple(size), f"images are {batch.size}, asked for {tuple(size)}")
    _check(batch.channels in (1, 3), f"images have {batch.channels} channels")
    ran.append("images")
    if dataset.labelled:
        _check(batch.gaze is not None, "a labelled dataset returned no gaze")
        norms = batch.gaze.norm(dim=1)
        _check(bool(torch.allclose(norms, torch.ones_like(norms), atol=1e-4)), "gaze vectors are not unit length")
        _check(bool((batch.gaze[:, 2] < 0.2).all()),
               "gaze z should be negative (looking towards the camera) in the normalised frame")
        ran.append("gaze")
    if batch.head_pose is not None:
        _check(batch.head_pose.shape == (len(batch), 2), f"head_pose must be (N, 2), got {tuple(batch.head_pose.shape)}")
    if dataset.has_masks:
        _check(batch.masks is not None, "has_masks is set but the batch has no masks")
    if batch.masks is not None:
        _check(batch.masks.dtype == torch.uint8 and int(batch.masks.max()) <= 3, "masks must be uint8 labels 0..3")
        ran.append("masks")
    if batch.pupil is not None:
        h, w = size
        _check(bool(((batch.pupil[:, 0] >= -0.5) & (batch.pupil[:, 0] <= w - 0.5)).all()
                    and ((batch.pupil[:, 1] >= -0.5) & (batch.pupil[:, 1] <= h - 0.5)).all()),
               "pupil centres lie outside the image")
    sample = data[len(data) - 1]
    _check(isinstance(sample, EyeSample), f"data[i] returned {type(sample).__name__}, not an EyeSample")
    _check(torch.equal(sample.image, batch.images[-1]), "data[i] and data.batch() disagree on the image")
    again = dataset.load(split, root=root, size=size, limit=n, seed=seed).take()
    _check(torch.equal(again.images, batch.images), "loading twice with the same seed gave different images")
    ran.append("deterministic")
    return ran


def _train_test(channels: int = 1, size: tuple[int, int] = (36, 60)) -> tuple[EyeBatch, EyeBatch]:
    return (make_toy_eyes(48, size, stream=1, channels=channels),
            make_toy_eyes(12, size, stream=2, wild=True, channels=channels))


def check_estimator(factory: Callable[[], Any], *, train: EyeBatch | None = None,
                    test: EyeBatch | None = None) -> list[str]:
    """Check an Estimator: params stored, fit returns self, unit (N, 3) predictions without labels,
    determinism under a seed, and a save/load round trip into a fresh instance."""
    from gazebench.api import Estimator

    ran = []
    if train is None or test is None:
        train, test = _train_test()
    est = factory()
    _check(isinstance(est, Estimator), f"{type(est).__name__} is not a gazebench.api.Estimator")
    _check_init_stores_params(est)
    ran.append("params")
    torch.manual_seed(0)
    _check(est.fit(train) is est, "fit() must return self")
    pred = est.predict(test.without_labels())
    _check(isinstance(pred, torch.Tensor) and pred.shape == (len(test), 3),
           f"predict() must return a (N, 3) tensor, got {type(pred).__name__} {tuple(getattr(pred, 'shape', ()))}")
    _check(bool(torch.isfinite(pred).all()), "predict() returned non-finite values")
    _check(bool(torch.allclose(pred.float().norm(dim=1), torch.ones(len(test)), atol=1e-4)),
           "predict() must return unit vectors")
    ran.append("predict")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "estimator.ckpt"
        est.save(path)
        other = factory()
        _check(other.load(path) is other, "load() must return self")
        again = other.predict(test.without_labels())
        _check(bool(torch.allclose(pred, again, atol=1e-5)), "predictions differ after save/load")
    ran.append("save_load")
    torch.manual_seed(0)
    est2 = factory().fit(train)
    _check(bool(torch.allclose(est2.predict(test.without_labels()), pred, atol=1e-5)),
           "two fits with the same seed gave different predictions")
    ran.append("deterministic")
    return ran


def check_purifier(factory: Callable[[], Any], *, size: tuple[int, int] = (36, 60)) -> list[str]:
    """Check a Purifier: fit returns self, uint8 output of the input's shape for gray and RGB at
    two resolutions, labels not needed, and a save/load round trip."""
    from gazebench.api import Purifier

    ran = []
    pur = factory()
    _check(isinstance(pur, Purifier), f"{type(pur).__name__} is not a gazebench.api.Purifier")
    _check_init_stores_params(pur)
    content = make_toy_eyes(6, size, stream=3, wild=True, channels=3).without_labels()
    style = make_toy_eyes(6, size, stream=4, channels=3)
    torch.manual_seed(0)
    _check(pur.fit(content, style) is pur, "fit() must return self")
    ran.append("fit")
    for channels in (3, 1):
        for hw in (size, (size[0] + 4, size[1] - 4)):
            batch = make_toy_eyes(2, hw, stream=5, wild=True, channels=channels).without_labels()
            out = pur.purify(batch)
            _check(isinstance(out, torch.Tensor) and out.dtype == torch.uint8,
                   f"purify() must return a uint8 tensor, got {getattr(out, 'dtype', type(out))}")
            _check(out.shape == batch.images.shape,
                   f"purify() changed the shape {tuple(batch.images.shape)} -> {tuple(out.shape)}")
    ran.append("shapes")
    batch = make_toy_eyes(2, size, stream=5, wild=True, channels=3).without_labels()
    torch.manual_seed(0)
    first = pur.purify(batch)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "purifier.ckpt"
        pur.save(path)
        other = factory()
        _check(other.load(path) is other, "load() must return self")
        torch.manual_seed(0)
        again = other.purify(batch)
        diff = (again.int() - first.int()).abs().max().item()
        _check(diff <= 1, f"purified images differ by up to {diff} after save/load")
    ran.append("save_load")
    return ran


def check_segmenter(factory: Callable[[], Any], *, size: tuple[int, int] = (36, 60)) -> list[str]:
    """Check a Segmenter: fit returns self; (N, H, W) uint8 labels 0..3 for gray and RGB images."""
    from gazebench.api import Segmenter

    seg = factory()
    _check(isinstance(seg, Segmenter), f"{type(seg).__name__} is not a gazebench.api.Segmenter")
    _check_init_stores_params(seg)
    train = make_toy_eyes(24, size, stream=6, channels=3)
    torch.manual_seed(0)
    _check(seg.fit(train) is seg, "fit() must return self")
    for channels in (3, 1):
        images = make_toy_eyes(3, size, stream=7, wild=True, channels=channels).images
        out = seg.segment(images)
        _check(isinstance(out, torch.Tensor) and out.shape == (3, *size) and out.dtype == torch.uint8,
               f"segment() must return uint8 (N, H, W), got {getattr(out, 'dtype', None)} "
               f"{tuple(getattr(out, 'shape', ()))}")
        _check(int(out.max()) <= 3, "segment() labels must lie in 0..3")
    return ["fit", "segment"]


CHECKS: dict[str, Callable[..., list[str]]] = {
    "estimator": check_estimator, "purifier": check_purifier, "segmenter": check_segmenter,
}


def check_registered(kind: str, name: str, **kwargs: Any) -> list[str]:
    """Run the kit on a registered component built with its ``test_params``."""
    from gazebench.plugins import get_plugin_manager

    pm = get_plugin_manager()
    cls = pm.spec(kind, name).load()
    params = dict(getattr(cls, "test_params", {}) or {})

    def factory() -> Any:
        return pm.create(kind, name, **params)

    if kind == "dataset":
        return check_dataset(factory(), **kwargs)
    return CHECKS[kind](factory, **kwargs)
