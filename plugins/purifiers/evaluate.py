"""How close purified images come to their paired clean renders, and whether the pupil stayed put.

For a test set paired with a clean rendering of the same eyes (``synth-wild`` -> ``synth``):

- PSNR and SSIM (kornia.metrics, on [0, 1] RGB, SSIM window 7) of raw vs reference and purified
  vs reference: a purifier should raise both.
- pupil shift: the darkness-weighted centroid inside the true iris region (:func:`pupil_centres`)
  on the purified image minus the one on the raw image, in pixels; the same measure's error
  against the renderer's true pupil centre on raw images is given beside it, so the shift can be
  read against the measure's own noise.
"""

from __future__ import annotations

from typing import Any

import torch

from gazebench_plugins.purifiers.common import rgb_float


def pupil_centres(images: torch.Tensor, masks: torch.Tensor, grow: int = 2) -> torch.Tensor:
    """(N, 2) x, y: the darkness-weighted centroid inside the true iris region grown by ``grow`` px.

    Weights are ``max(0, median - I)`` over that window (gray ``I``), so pixels darker than the
    window's median count, whatever the global brightness: the pupil dominates. The window comes
    from the dataset's masks, identical for raw and purified images, so a shift of the centroid
    is a shift of the dark blob itself. NaN where the window is empty or flat.
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


def image_metrics(images: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of uint8 ``images`` against uint8 ``reference`` (same shape)."""
    import kornia.metrics

    a, b = rgb_float(images) / 255.0, rgb_float(reference) / 255.0
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    psnr = (10 * torch.log10(1.0 / mse)).mean()
    ssim = kornia.metrics.ssim(a, b, 7, max_val=1.0).mean()
    return {"psnr_db": float(psnr), "ssim": float(ssim)}


def paired_metrics(raw: torch.Tensor, purified: torch.Tensor, reference: torch.Tensor, masks: torch.Tensor,
                   true_pupil: torch.Tensor | None = None) -> dict[str, Any]:
    """Raw and purified PSNR/SSIM against the paired references, and the pupil shift (masks: the
    raw images' true label maps, which place the measuring window)."""
    r, p = image_metrics(raw, reference), image_metrics(purified, reference)
    c_raw = pupil_centres(raw, masks)
    c_pur = pupil_centres(purified, masks)
    shift = (c_pur - c_raw).norm(dim=1)
    ok = torch.isfinite(shift)
    out: dict[str, Any] = {
        "n": int(raw.shape[0]), "raw_psnr_db": r["psnr_db"], "purified_psnr_db": p["psnr_db"],
        "raw_ssim": r["ssim"], "purified_ssim": p["ssim"],
        "pupil_shift_px_mean": float(shift[ok].mean()) if ok.any() else None,
        "pupil_shift_px_median": float(shift[ok].median()) if ok.any() else None,
        "pupil_shift_px_std": float(shift[ok].std()) if int(ok.sum()) > 1 else None,
        "pupil_found": int(ok.sum()),
    }
    if true_pupil is not None:
        err = (c_raw - true_pupil.double()).norm(dim=1)
        fin = torch.isfinite(err)
        out["detector_error_px_raw"] = float(err[fin].mean()) if fin.any() else None
    return out
