"""Pupil-preservation metrics on known answers (gazebench.metrics)."""

from __future__ import annotations

import math

import pytest
import torch

from gazebench import metrics


def _eye(cx: int = 30, cy: int = 18, h: int = 36, w: int = 60, n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (n, 3, h, w) eyes: bright sclera, mid iris (r 7), dark pupil (r 3) at (cx, cy); labels."""
    ys = torch.arange(h).view(h, 1).float()
    xs = torch.arange(w).view(1, w).float()
    r = ((xs - cx) ** 2 + (ys - cy) ** 2).sqrt()
    labels = torch.ones(h, w, dtype=torch.uint8)
    labels[r <= 7] = 2
    labels[r <= 3] = 3
    img = torch.full((h, w), 200.0)
    img[labels == 2] = 110.0
    img[labels == 3] = 25.0
    images = img.round().to(torch.uint8).expand(n, 3, h, w).clone()
    return images, labels.expand(n, h, w).clone()


def test_locator_finds_the_true_centre_and_a_one_pixel_translation():
    images, masks = _eye()
    truth = torch.tensor([[30.0, 18.0]] * 3)
    assert metrics.pupil_locator_error(images, masks, truth).max() < 1e-9
    moved = torch.roll(images, 1, dims=-1)  # the eye moved 1 px right; the window stays the original's
    err = metrics.pupil_locator_error(moved, masks, truth)
    assert torch.allclose(err, torch.ones(3, dtype=torch.float64), atol=1e-9)
    assert metrics.pupil_locator_error(moved, masks, truth + torch.tensor([1.0, 0.0])).max() < 1e-9
    # the segmenter-based shift of a label map moved by 1 px is exactly 1 px
    shift = metrics.segmenter_shift(masks, torch.roll(masks, 1, dims=-2))
    assert torch.allclose(shift, torch.ones(3, dtype=torch.float64))


def test_pure_relighting_scores_zero_against_truth():
    images, masks = _eye(cx=27, cy=17)
    truth = torch.tensor([[27.0, 17.0]] * 3)
    relit = metrics.photometric_control(images)
    assert not torch.equal(relit, images)  # it did change the pixels ...
    assert metrics.pupil_locator_error(relit, masks, truth).max() < 1e-6  # ... and moved nothing
    errs = metrics.pupil_locator_errors({"raw": images, "oracle": images, "relit": relit}, masks, truth)
    assert errs["relit"]["mean"] < 1e-6 and errs["relit"]["found"] == 1.0
    fields = metrics.run_pupil_fields(errs, "relit")
    assert fields == {"pupil_err_raw_px": errs["raw"]["mean"], "pupil_err_purified_px": errs["relit"]["mean"],
                      "pupil_err_oracle_px": errs["oracle"]["mean"]}


def test_shading_biases_the_raw_to_purified_centroid_shift_but_not_the_error_against_truth():
    # why the old shift fails a perfect purifier: a shaded raw image vs its clean version (the
    # oracle) "moves" the centroid, yet the clean image is exactly right against the truth
    images, masks = _eye()
    truth = torch.tensor([[30.0, 18.0]] * 3)
    ramp = torch.linspace(1.0, 0.25, 60).view(1, 1, 1, 60)  # light from the left
    shaded = (images.float() * ramp).round().to(torch.uint8)
    biased = metrics.centre_distances(metrics.pupil_centres(shaded, masks), metrics.pupil_centres(images, masks))
    assert biased.min() > 0.3
    assert metrics.pupil_locator_error(images, masks, truth).max() < 1e-9  # the oracle is perfect
    assert metrics.pupil_locator_error(shaded, masks, truth).min() > 0.3  # the raw one is not


def test_summarize_counts_misses():
    s = metrics.summarize(torch.tensor([1.0, 3.0, math.nan, math.nan]))
    assert s == {"mean": 2.0, "std": 1.0, "found": 0.5}
    assert metrics.summarize(torch.tensor([math.nan])) == {"mean": None, "std": None, "found": 0.0}
    assert metrics.run_pupil_fields(None, "x") == {"pupil_err_raw_px": None, "pupil_err_purified_px": None,
                                                   "pupil_err_oracle_px": None}


@pytest.mark.parametrize("gain,gamma,contrast", [(1.0, 1.0, 1.0), (0.5, 2.0, 0.5)])
def test_photometric_control_keeps_shape_and_dtype(gain, gamma, contrast):
    images, _ = _eye(n=2)
    out = metrics.photometric_control(images, gain, gamma, contrast)
    assert out.shape == images.shape and out.dtype == torch.uint8
    if gain == gamma == contrast == 1.0:
        assert torch.equal(out, images)


def test_run_rows_carry_the_pupil_fields(pm, tmp_path):
    from gazebench.runner import RunConfig, run

    cfg = RunConfig(train="toy", test="toy-wild", estimators=["mean"], purifiers=["identity", "reinhard"],
                    n_train=60, n_test=20, n_unlabelled=20, out=str(tmp_path / "r.json"), cache=False)
    rows = {r["purifier"]: r for r in run(cfg, pm=pm, log=lambda m: None)["rows"]}
    ident, rein = rows["identity"], rows["reinhard"]
    for k in metrics.PUPIL_ROW_FIELDS:
        assert k in ident
    # identity returns the raw images: the locator's error is the raw one; the oracle gives its floor
    assert ident["pupil_err_purified_px"] == ident["pupil_err_raw_px"] is not None
    assert ident["pupil_err_oracle_px"] is not None and ident["pupil_shift_px"] == 0.0
    assert rein["pupil_err_raw_px"] == ident["pupil_err_raw_px"] and rein["pupil_err_purified_px"] is not None
    # paired data with true centres: no segmenter is needed
    assert ident["pupil_seg_shift_px"] is None

    # a named segmenter adds the raw -> purified shift and its photometric-control floor
    cfg2 = RunConfig(**{**cfg.__dict__, "pupil_segmenter": "threshold", "out": str(tmp_path / "s.json")})
    rows2 = {r["purifier"]: r for r in run(cfg2, pm=pm, log=lambda m: None)["rows"]}
    assert rows2["identity"]["pupil_seg_shift_px"] == 0.0
    assert rows2["reinhard"]["pupil_seg_floor_px"] is not None and rows2["reinhard"]["pupil_seg_shift_px"] is not None


def test_content_kept_known_answers():
    """Gain and offset keep every image's content (corr 1, spread scaled by the gain); replacing
    every image by one template keeps none of their spread."""
    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 200, (5, 1, 6, 8), generator=g, dtype=torch.uint8)
    relit = (raw.double() * 0.5 + 20).round().to(torch.uint8)
    k = metrics.content_kept(raw, relit)
    assert abs(k["raw_corr"] - 1) < 1e-3 and abs(k["spread_ratio"] - 0.5) < 0.01
    same = raw[:1].expand(5, -1, -1, -1).contiguous()
    assert metrics.content_kept(raw, same)["spread_ratio"] == 0.0
