"""Segmenters: the threshold detector and a briefly trained U-Net on toy eyes, save/load, the
landmarks pass-through and its honest refusal, and the real MPIIGaze patches."""

from __future__ import annotations

import pytest
import torch

from gazebench.testing import make_toy_eyes
from gazebench_plugins.segmenters.landmarks import LandmarksSegmenter
from gazebench_plugins.segmenters.threshold import ThresholdSegmenter, _moment_ellipse
from gazebench_plugins.segmenters.unet import (WILD_FAMILIES, UNet, UNetSegmenter, degrade, degrade_wild,
                                               equalize_hist, gaussian_blur, jpeg_quantize, region_albedo, shade)


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
    # the first, light augmentation: the wild one needs more than 150 steps to learn toy eyes
    seg = UNetSegmenter(width=8, depth=2, iterations=150, batch_size=8, lr=5e-3, augment="basic",
                        progress=False).fit(train)
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
    r = run_cli("segment-eval", "-s", "unet", "--train", "toy", "--test", "toy", "--n-train", "8", "--n-test", "4",
                "--json", "-o", "unet.iterations=2", "-o", "unet.width=4", "-o", "unet.seed=3", "-o", "unet.progress=false")
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["params"]["unet"]["seed"] == 3 and out["rows"][0]["segmenter"] == "unet"
    r = run_cli("segment-eval", "-s", "unet", "--train", "toy", "--test", "toy", "-o", "cnn.epochs=1")
    assert r.returncode != 0 and "neither a segmenter nor a dataset" in r.stderr


def test_equalize_hist_known_answer_and_flat_histogram():
    # OpenCV's rule: the darkest level present -> 0, then round((cdf - cdf_min) * 255 / (N - cdf_min))
    x = torch.tensor([10.0, 10, 20, 30]).view(1, 1, 2, 2)
    assert equalize_hist(x).flatten().tolist() == [0, 0, 128, 255]
    g = torch.Generator().manual_seed(0)
    narrow = 100 + torch.randint(0, 32, (2, 1, 64, 64), generator=g).float()  # 32 levels, a dull image
    before = narrow.clone()
    y = equalize_hist(narrow)
    assert torch.equal(narrow, before)
    assert float(y.min()) == 0 and float(y.max()) == 255
    for img in y:  # flat: the share of pixels at or below each output level ~ level / 255
        v = img.flatten()
        for level in v.unique()[:-1]:
            assert abs(float((v <= level).float().mean()) - float(level) / 255) < 1 / 32 + 0.01
    const = torch.full((1, 1, 4, 4), 77.0)
    assert torch.equal(equalize_hist(const), const)  # one grey level: left as it is, as OpenCV does


def test_region_albedo_changes_only_the_region_asked():
    b = make_toy_eyes(4, (36, 60), stream=3)
    x = to_gray_float(b.images)
    before = x.clone()
    y = region_albedo(x, b.masks, 2, torch.full((4,), 0.5))
    assert torch.equal(x, before)
    iris = (b.masks == 2).unsqueeze(1)
    assert torch.equal(y[~iris], x[~iris])
    assert torch.allclose(y[iris], x[iris] * 0.5)
    grey = region_albedo(x, b.masks, 1, torch.zeros(4), towards=torch.full((4,), 128.0))
    sclera = (b.masks == 1).unsqueeze(1)
    assert bool((grey[sclera] == 128).all()) and torch.equal(grey[~sclera], x[~sclera])


def test_blur_shading_and_jpeg_known_answers():
    from io import BytesIO

    import numpy as np
    from PIL import Image

    imp = torch.zeros(2, 1, 15, 15)
    imp[:, :, 7, 7] = 100
    y = gaussian_blur(imp, torch.tensor([0.0, 1.0]))
    assert torch.allclose(y[0], imp[0], atol=1e-4)  # sigma 0: unchanged
    k = torch.exp(-0.5 * torch.arange(-3.0, 4.0) ** 2)
    assert float(y[1, 0, 7, 7]) == pytest.approx(100 / float(k.sum()) ** 2, rel=1e-4)
    assert float(y[1].sum()) == pytest.approx(100, rel=1e-3)
    flat = torch.full((1, 1, 5, 9), 100.0)
    s = shade(flat, torch.zeros(1), torch.tensor([0.2]), torch.tensor([1.0]), torch.zeros(1))
    # light along +x: the middle column gets ambient + (1 - ambient) * 0.5; brighter to the right
    assert float(s[0, 0, 2, 4]) == pytest.approx(100 * (0.2 + 0.8 * 0.5))
    assert bool((s[0, 0, :, 1:] > s[0, 0, :, :-1]).all())
    ones = shade(flat, torch.zeros(1), torch.ones(1), torch.tensor([3.0]), torch.zeros(1))
    assert torch.allclose(ones, flat)  # ambient 1: no shading
    # the 8x8 quantisation reproduces a real JPEG encoder's (PIL/libjpeg, gray, quality 40) decode
    g = torch.Generator().manual_seed(1)
    img = gaussian_blur(torch.rand(1, 1, 32, 48, generator=g) * 255, torch.tensor([1.5])).round()
    buf = BytesIO()
    Image.fromarray(img[0, 0].numpy().astype(np.uint8)).save(buf, format="JPEG", quality=40)
    ref = torch.from_numpy(np.array(Image.open(buf))).float()
    ours = jpeg_quantize(img, torch.tensor([40.0]))[0, 0]
    assert float((ours - ref).abs().mean()) < 0.6 < float((img[0, 0] - ref).abs().mean())
    assert float((jpeg_quantize(img, torch.tensor([100.0])) - img).abs().mean()) < 0.5


def test_degrade_wild_range_no_mutation_seeded_and_labels_follow_geometry():
    b = make_toy_eyes(8, (36, 60), stream=4)
    x, m = to_gray_float(b.images), b.masks.long()
    x0, m0 = x.clone(), m.clone()
    y, ym = degrade_wild(x, m, torch.Generator().manual_seed(0))
    assert torch.equal(x, x0) and torch.equal(m, m0)
    assert y.shape == x.shape and ym.shape == m.shape and ym.dtype == m.dtype
    assert float(y.min()) >= 0 and float(y.max()) <= 255 and not torch.equal(y, x)
    y2, ym2 = degrade_wild(x, m, torch.Generator().manual_seed(0))
    assert torch.equal(y, y2) and torch.equal(ym, ym2)
    _, same = degrade_wild(x, m, torch.Generator().manual_seed(0), [f for f in WILD_FAMILIES if f != "geometry"])
    assert torch.equal(same, m)  # only the geometry moves labels
    geo, gm = degrade_wild(x, m, torch.Generator().manual_seed(2), ["geometry"])
    assert not torch.equal(gm, m)
    # the labels moved with the pixels: pupil pixels stay the darkest, skin the brightest
    assert float(geo[(gm == 3).unsqueeze(1)].mean()) < 0.5 * float(geo[(gm == 0).unsqueeze(1)].mean())
    with pytest.raises(ValueError, match="unknown"):
        degrade_wild(x, m, torch.Generator(), ["sepia"])


def test_unet_loss_and_norm_options_fit_and_round_trip(tmp_path):
    train = make_toy_eyes(32, (36, 60), stream=5)
    seg = UNetSegmenter(width=4, depth=2, iterations=4, batch_size=4, loss="dice", norm="equalize",
                        progress=False).fit(train)
    p = seg.segment(train.images)
    seg.save(tmp_path / "u.ckpt")
    again = UNetSegmenter(progress=False).load(tmp_path / "u.ckpt")  # norm comes from the checkpoint
    assert again.norm_ == "equalize" and torch.equal(again.segment(train.images), p)
    UNetSegmenter(width=4, depth=2, iterations=2, batch_size=4, loss="balanced", norm="standardize",
                  augment="basic", progress=False).fit(train)
    with pytest.raises(ValueError, match="unknown"):
        UNetSegmenter(augment="shading,sepia")


def to_gray_float(images: torch.Tensor) -> torch.Tensor:
    from gazebench.types import to_gray

    return to_gray(images).float()
