"""Metrics shared by the runner and plugins: does purification keep the pupil where it was?

Two questions, two kinds of data (docs/method.md, "Pupil preservation"):

- **Paired data with a true pupil centre** (the renderer): :func:`pupil_locator_errors` runs one
  fixed pupil locator (:func:`pupil_centres`) on raw, purified and oracle images and measures its
  error against the dataset's true centre. A perfect purifier scores the oracle's error (the
  locator's own floor); relighting that *helps* the locator lowers the error instead of being
  counted as a "shift". This is the primary metric.
- **Unpaired data** (real eyes, no true centre): :func:`segmenter_shift` compares the pupils a
  segmenter finds in raw and purified images; :func:`photometric_control` gives a fixed,
  geometry-free relighting of the raw images whose shift is the segmenter's noise floor (so a
  purifier's shift is read against what a pure photometric change already costs).

The older raw -> purified shift of :func:`pupil_centres` (``pupil_shift_px`` in a run's rows) is
**biased under relighting**: shading moves a darkness-weighted centroid even when no pixel of the
eye moved (the paired clean render itself "moves" the pupil by ~2 px on ``synth-wild``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

#: the pupil fields of each row of a run record (docs/results.md); ``pupil_shift_px`` is the old
#: centroid shift, biased under relighting
PUPIL_ROW_FIELDS = ("pupil_err_raw_px", "pupil_err_purified_px", "pupil_err_oracle_px",
                    "pupil_seg_shift_px", "pupil_seg_floor_px", "pupil_shift_px")

Locator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pupil_centres(images: torch.Tensor, masks: torch.Tensor, grow: int = 2) -> torch.Tensor:
    """(N, 2) x, y: the darkness-weighted centroid inside the true iris region grown by ``grow`` px.

    This is the project's one fixed pupil locator. Weights are ``max(0, median - I)`` over that
    window (gray ``I``), so pixels darker than the window's median count, whatever the global
    brightness: the pupil dominates. The window comes from the dataset's masks, identical for
    raw, purified and oracle images, so only the pixels decide. NaN where the window is empty or
    flat.
    """
    import torch.nn.functional as F

    from gazebench.types import to_gray

    gray = to_gray(images.cpu()).double()[:, 0]
    n, h, w = gray.shape
    region = (masks.cpu() >= 2).double()[:, None]
    win = F.max_pool2d(region, 2 * grow + 1, 1, grow)[:, 0] > 0 if grow else region[:, 0] > 0
    xs = torch.arange(w, dtype=torch.float64).view(1, 1, w)
    ys = torch.arange(h, dtype=torch.float64).view(1, h, 1)
    out = torch.full((n, 2), float("nan"), dtype=torch.float64)
    for i in range(n):
        if not win[i].any():
            continue
        med = gray[i][win[i]].median()
        wt = (med - gray[i]).clamp_min(0) * win[i]
        if float(wt.sum()) > 0:
            out[i, 0] = (wt * xs[0]).sum() / wt.sum()
            out[i, 1] = (wt * ys[0]).sum() / wt.sum()
    return out


def pupil_centroids(labels: torch.Tensor) -> torch.Tensor:
    """(N, H, W) label maps -> (N, 2) centroid (x, y) of the pupil label 3; NaN where none."""
    pupil = (labels == 3).double()
    h, w = labels.shape[-2:]
    mass = pupil.sum((1, 2))
    xs = (pupil * torch.arange(w, dtype=torch.float64)).sum((1, 2)) / mass
    ys = (pupil * torch.arange(h, dtype=torch.float64).view(h, 1)).sum((1, 2)) / mass
    return torch.stack([xs, ys], 1)  # 0/0 = NaN marks "no pupil found"


def centre_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) Euclidean distances in px between two (N, 2) sets of centres (NaN where either is)."""
    return torch.linalg.norm(a.double().cpu() - b.double().cpu(), dim=1)


def pupil_locator_error(images: torch.Tensor, masks: torch.Tensor, true_centres: torch.Tensor,
                        locator: Locator = pupil_centres) -> torch.Tensor:
    """(N,) px: how far ``locator`` (default :func:`pupil_centres`) lands from the true centre.

    ``masks`` are the dataset's region labels of the *original* eyes (the same window for every
    version of an image); ``true_centres`` (N, 2) x, y in px. NaN where the locator finds nothing.
    """
    return centre_distances(locator(images, masks), true_centres)


def pupil_locator_errors(versions: dict[str, torch.Tensor], masks: torch.Tensor, true_centres: torch.Tensor,
                         locator: Locator = pupil_centres) -> dict[str, dict[str, float | None]]:
    """The locator's error summary (:func:`summarize`) for each named version of the same eyes.

    ``versions``: e.g. ``{"raw": ..., "oracle": ..., "attention": ...}``, uint8 (N, C, H, W) each.
    The ``oracle`` entry is the locator's floor: a perfect purifier scores it.
    """
    return {name: summarize(pupil_locator_error(images, masks, true_centres, locator))
            for name, images in versions.items()}


def segmenter_shift(labels_raw: torch.Tensor, labels_purified: torch.Tensor) -> torch.Tensor:
    """(N,) px between the pupil centroids of two label maps of the same eyes (a segmenter's
    output on raw and on purified images); NaN where either has no pupil."""
    return centre_distances(pupil_centroids(labels_raw), pupil_centroids(labels_purified))


def photometric_control(images: torch.Tensor, gain: float = 0.75, gamma: float = 1.3,
                        contrast: float = 0.7) -> torch.Tensor:
    """A fixed, purely photometric change of uint8 images (global gain, gamma and contrast, the
    kind of change ``reinhard`` makes): nothing moves, so a segmenter's raw -> control shift is
    its noise floor for photometric edits."""
    x = images.double() / 255.0
    x = (x * gain).clamp(0, 1) ** gamma
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + contrast * (x - mean)
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def content_kept(raw: torch.Tensor, purified: torch.Tensor) -> dict[str, float]:
    """Did purification keep each image's own content, or paint a generic eye? For unpaired data
    (no reference): ``raw_corr``, the mean per-image Pearson correlation of purified with raw
    grey levels (1 for any gain/offset change), and ``spread_ratio``, the mean per-pixel std
    across the purified set over the same across the raw set (1: as varied as the input; near 0:
    every image made alike). Grey level: the mean over channels."""
    a = raw.double().mean(1).flatten(1)
    b = purified.double().mean(1).flatten(1)
    a0, b0 = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = (a0.norm(dim=1) * b0.norm(dim=1)).clamp_min(1e-12)
    corr = (a0 * b0).sum(1) / den
    spread = float(b.std(0, unbiased=False).mean() / a.std(0, unbiased=False).mean().clamp_min(1e-12))
    return {"raw_corr": float(corr.mean()), "spread_ratio": spread}


def summarize(values: torch.Tensor) -> dict[str, float | None]:
    """``mean``, ``std`` (population) and ``found`` (share of finite values) of (N,) px values."""
    v = values.double().cpu()
    ok = torch.isfinite(v)
    if not bool(ok.any()):
        return {"mean": None, "std": None, "found": 0.0}
    return {"mean": float(v[ok].mean()), "std": float(v[ok].std(unbiased=False)),
            "found": float(ok.double().mean())}


def run_pupil_fields(locator: dict[str, Any] | None, purifier: str) -> dict[str, float | None]:
    """The pupil-locator fields of one run row for ``purifier`` from :func:`pupil_locator_errors`'
    output (``None`` values when the test set has no true pupil centres)."""
    get = (lambda k: (locator or {}).get(k, {}).get("mean"))
    return {"pupil_err_raw_px": get("raw"), "pupil_err_purified_px": get(purifier),
            "pupil_err_oracle_px": get("oracle")}
