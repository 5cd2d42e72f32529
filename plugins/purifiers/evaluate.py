"""How close purified images come to their paired clean renders, and whether the pupil stayed put.

For a test set paired with a clean rendering of the same eyes (``synth-wild`` -> ``synth``):

- PSNR and SSIM (kornia.metrics, on [0, 1] RGB, SSIM window 7) of raw vs reference and purified
  vs reference: a purifier should raise both.
- pupil-locator error (the primary pupil metric, :mod:`gazebench.metrics`): the fixed locator
  :func:`pupil_centres` against the renderer's true pupil centre on raw, purified and reference
  (oracle) images; a perfect purifier scores the reference's error, the locator's floor.
- pupil shift (secondary, **biased under relighting**): the same centroid on the purified image
  minus the one on the raw image; shading moves the centroid even when nothing moved, so a
  purifier that removes shading "shifts" the pupil by this measure (the reference itself does).
"""

from __future__ import annotations

from typing import Any

import torch

from gazebench.metrics import pupil_centres  # noqa: F401  (re-exported: part of this module's API)
from gazebench_plugins.purifiers.common import rgb_float


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
        from gazebench.metrics import pupil_locator_errors

        errs = pupil_locator_errors({"raw": raw, "purified": purified, "oracle": reference}, masks, true_pupil)
        for k in ("raw", "purified", "oracle"):
            out[f"pupil_err_{k}_px"] = errs[k]["mean"]
        out["detector_error_px_raw"] = errs["raw"]["mean"]  # the older name, kept for readers of old files
    return out
