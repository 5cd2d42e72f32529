"""The domain gap matters, and synth-wild resembles the real MPIIGaze patches."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Ridge

from gazebench.geometry import angular_error_deg, pitchyaw_to_vector, vector_to_pitchyaw
from gazebench.types import to_gray
from gazebench_plugins.synth.dataset import SynthEyes, SynthEyesWild


def _pixels(batch) -> np.ndarray:
    """Gray, 3x3-pooled (12x20), per-image standardised pixels: a plain appearance feature."""
    g = torch.nn.functional.avg_pool2d(to_gray(batch.images).float(), 3)[:, 0].flatten(1)
    return ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + 1e-3)).numpy()


def test_an_estimator_fitted_on_synth_does_clearly_worse_on_synth_wild():
    train = SynthEyes().load("train", limit=1500).take()
    clean = SynthEyes().load("test", limit=400).take()
    wild = SynthEyesWild().load("test", limit=400).take()
    ridge = Ridge(alpha=100.0).fit(_pixels(train), vector_to_pitchyaw(train.gaze.double()).numpy())

    def error(batch):
        pred = pitchyaw_to_vector(torch.as_tensor(ridge.predict(_pixels(batch))))
        return float(angular_error_deg(pred, batch.gaze.double()).mean())

    e_clean, e_wild = error(clean), error(wild)
    mean = train.gaze.mean(0)
    e_mean = float(angular_error_deg(mean.expand_as(clean.gaze), clean.gaze).mean())
    # measured (seed 0): ridge ~5 deg on synth, ~13 on synth-wild (renderer v1: ~14); mean gaze ~19 on both
    assert e_clean < 8, f"ridge on held-out synth: {e_clean:.1f} deg"
    assert e_clean < 0.5 * e_mean, "the clean images barely carry the gaze"
    assert e_wild > 1.8 * e_clean and e_wild > e_clean + 5, f"no gap: synth {e_clean:.1f}, wild {e_wild:.1f}"
    # the paired clean render is the oracle: the same labels, so the mean predictor cannot tell
    assert torch.equal(clean.gaze, wild.gaze)


def _stats(x: np.ndarray) -> dict[str, float]:
    x = x.astype(np.float64)
    gx = np.diff(x, axis=-1)[..., :-1, :]
    gy = np.diff(x, axis=-2)[..., :, :-1]
    g = np.sqrt(gx**2 + gy**2)
    return {"mean": x.mean(), "std": x.std(), "grad_mean": g.mean(), "grad_median": float(np.median(g))}


def test_synth_wild_gray_crops_resemble_the_real_patches(mpiigaze_patches):
    real = _stats(mpiigaze_patches)
    wild = _stats(to_gray(SynthEyesWild().load("test", limit=400).take().images)[:, 0].numpy())
    clean = _stats(to_gray(SynthEyes().load("test", limit=400).take().images)[:, 0].numpy())
    # measured: real mean 129.2 std 73.8 grad 18.5 / 13.3; wild (renderer v2) 129.2 73.6 18.2 / 13.0
    # (v1: 129.7 73.0 20.3 / 13.3)
    assert abs(wild["mean"] - real["mean"]) < 8 and abs(wild["std"] - real["std"]) < 8
    assert 0.75 < wild["grad_median"] / real["grad_median"] < 1.33
    assert 0.75 < wild["grad_mean"] / real["grad_mean"] < 1.4
    # and the clean style is not like them: that is the gap a purifier closes
    assert abs(clean["std"] - real["std"]) > 15


def test_synth_wild_matches_the_held_out_real_patches_statistics(mpiigaze_patches):
    """Renderer versions 2 and 3 were tuned on real patches 0:400; 400:600 are held out (docs/renderer.md)."""
    from gazebench.realism import TARGET_STATISTICS, domain_accuracy, gray_images, image_statistics, relative_gaps

    real = gray_images(mpiigaze_patches[400:600])
    wild = gray_images(SynthEyesWild().load("test", limit=200).take().images)
    gaps = relative_gaps(image_statistics(real), image_statistics(wild))
    # measured, version 3: grad p99 +1%, Laplacian -10%, dark centre -10%, border -10%, asymmetry -6%
    # (version 2: +4%, -5%, -1%, -12%, -4%)
    assert set(gaps) == set(TARGET_STATISTICS)
    assert max(gaps.values()) < 0.15, gaps
    # histogram classifier, 5-fold: measured 0.637 (version 2: 0.633; version 1: 0.823)
    assert domain_accuracy(real, wild, "hist")["accuracy"] < 0.70
