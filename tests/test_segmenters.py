"""Segmenters: the threshold detector and a briefly trained U-Net on toy eyes, save/load, the
landmarks pass-through and its honest refusal, and the real MPIIGaze patches."""

from __future__ import annotations

import pytest
import torch

from gazebench.testing import make_toy_eyes
from gazebench_plugins.segmenters.landmarks import LandmarksSegmenter
from gazebench_plugins.segmenters.threshold import ThresholdSegmenter, _moment_ellipse
from gazebench_plugins.segmenters.unet import UNet, UNetSegmenter, degrade


def iou(pred: torch.Tensor, true: torch.Tensor, label: int) -> float:
    a, b = pred == label, true == label
    return float((a & b).sum()) / max(1, int((a | b).sum()))


def test_moment_ellipse_recovers_a_disc():
    import numpy as np

    gy, gx = np.mgrid[0:40, 0:40]
    disc = (gx - 20.3) ** 2 + (gy - 15.7) ** 2 <= 8 ** 2
    part = disc & (gx < 24)  # a partly hidden blob keeps roughly its centre and extent
    assert (_moment_ellipse(disc) == disc).mean() > 0.99
    assert _moment_ellipse(part).sum() > 0.5 * disc.sum()


def test_threshold_on_clean_and_wild_toy_eyes():
    clean = make_toy_eyes(30, (36, 60), stream=7)
    wild = make_toy_eyes(30, (36, 60), stream=7, wild=True, channels=3)
    seg = ThresholdSegmenter()
    p = seg.segment(clean.images)
    assert p.dtype == torch.uint8 and p.shape == (30, 36, 60)
    assert iou(p, clean.masks, 3) > 0.8 and iou(p, clean.masks, 2) > 0.75 and iou(p, clean.masks, 1) > 0.85
    assert iou(seg.segment(wild.images), wild.masks, 3) > 0.5
    flat = torch.full((1, 1, 20, 30), 128, dtype=torch.uint8)  # nothing to find: all skin
    assert int(seg.segment(flat).max()) == 0
    with pytest.raises(ValueError, match="uint8"):
        seg.segment(clean.images.float())


def test_unet_learns_toy_masks_and_round_trips(tmp_path):
    train = make_toy_eyes(64, (36, 60), stream=1)
    test = make_toy_eyes(16, (36, 60), stream=2, wild=True, channels=3)
    torch.manual_seed(0)
    seg = UNetSegmenter(width=8, depth=2, iterations=150, batch_size=8, lr=5e-3, progress=False).fit(train)
    assert seg.history_[-1] < 0.5 * seg.history_[0]
    p = seg.segment(test.images)
    assert iou(p, test.masks, 3) > 0.6 and iou(p, test.masks, 2) > 0.7 and iou(p, test.masks, 0) > 0.9
    seg.save(tmp_path / "unet.ckpt")
    again = UNetSegmenter(progress=False).load(tmp_path / "unet.ckpt")
    assert torch.equal(again.segment(test.images), p)
    with pytest.raises(ValueError, match="has none"):
        UNetSegmenter(iterations=1).fit(train.replace(masks=None))
    with pytest.raises(ValueError, match="not fitted"):
        UNetSegmenter().segment(test.images)


def test_unet_any_size_and_degrade_range():
    net = UNet(width=4, depth=3).eval()
    assert net(torch.zeros(2, 1, 35, 61)).shape == (2, 4, 35, 61)
    x = torch.full((3, 1, 8, 8), 250.0)
    y = degrade(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 255 and not torch.equal(x, y)


def test_landmarks_passes_masks_through_and_refuses_bare_images():
    b = make_toy_eyes(3)
    seg = LandmarksSegmenter()
    assert torch.equal(seg.segment_batch(b), b.masks)
    with pytest.raises(ValueError, match="--masks unet or --masks threshold"):
        seg.segment(b.images)
    with pytest.raises(ValueError, match="cannot segment bare images"):
        seg.segment_batch(b.replace(masks=None))


def test_threshold_on_real_patches(mpiigaze_patches):
    """On real MPIIGaze crops: a pupil is found in most, and it is darker than its surround."""
    imgs = torch.from_numpy(mpiigaze_patches[:60].copy())[:, None]
    p = ThresholdSegmenter().segment(imgs)
    found = (p == 3).flatten(1).any(1)
    assert float(found.float().mean()) > 0.9
    for img, lab in zip(imgs[found], p[found]):
        assert img[0][lab == 3].float().mean() < img[0][lab <= 1].float().mean()


def test_region_iou_and_segment_eval_cli():
    from conftest import run_cli
    from gazebench_plugins.segmenters.evaluate import pupil_error, region_iou

    true = torch.tensor([[[0, 0, 3, 3]]], dtype=torch.uint8)
    pred = torch.tensor([[[0, 3, 3, 2]]], dtype=torch.uint8)
    iou_ = region_iou(pred, true)
    assert iou_ == {"skin": 0.5, "sclera": None, "iris": 0.0, "pupil": pytest.approx(1 / 3)}
    assert pupil_error(pred, torch.tensor([[2.5, 0.0]])) == pytest.approx(1.0)  # centroid x = 1.5
    r = run_cli("segment-eval", "-s", "threshold", "--train", "toy", "--test", "toy", "--n-train", "4",
                "--n-test", "20")
    assert r.returncode == 0, r.stderr
    assert "threshold" in r.stdout and "pupil" in r.stdout
