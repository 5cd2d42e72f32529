"""The rendered eye carries its labels: pupil centre, monotone iris and lids, recoverable gaze;
and the building blocks (counter-based hash, JPEG, equalisation) give known answers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.preprocessing import PolynomialFeatures

from gazebench.geometry import angular_error_deg, pitchyaw_to_vector
from gazebench_plugins.synth import rng
from gazebench_plugins.synth.latents import sample_latents
from gazebench_plugins.synth.render import render
from gazebench_plugins.synth.wild import equalize, jpeg


def _centroids(masks: torch.Tensor, label: int) -> torch.Tensor:
    m = (masks == label).float()
    ys = torch.arange(masks.shape[1], dtype=torch.float32).view(1, -1, 1)
    xs = torch.arange(masks.shape[2], dtype=torch.float32).view(1, 1, -1)
    cnt = m.sum((1, 2)).clamp(min=1)
    return torch.stack([(m * xs).sum((1, 2)) / cnt, (m * ys).sum((1, 2)) / cnt], 1)


@pytest.mark.parametrize("size", [(36, 60), (96, 160)])
def test_pupil_mask_centroid_is_the_reported_centre(size):
    lat = sample_latents(range(300), seed=0, split="test")
    r = render(lat, size)
    visible = r.pupil_visible >= 0.999  # a lid over the pupil moves its visible centroid, as it should
    assert int(visible.sum()) > 200
    err = (_centroids(r.masks, 3) - r.pupil).norm(dim=1)[visible]
    assert float(err.max()) < 0.5, f"pupil-mask centroid off by {float(err.max()):.2f} px"


def _sweep(pitch_deg, yaw_deg, index=3, size=(72, 120)):
    n = len(pitch_deg)
    lat = sample_latents([index] * n, seed=0, split="test")
    py = torch.deg2rad(torch.tensor([pitch_deg, yaw_deg], dtype=torch.float64).T)
    lat = dataclasses.replace(lat, pitch=py[:, 0], yaw=py[:, 1], gaze=pitchyaw_to_vector(py))
    return lat, render(lat, size)


@pytest.mark.parametrize("index", [3, 8])
def test_iris_moves_monotonically_with_yaw_and_pitch(index):
    yaws = list(range(-30, 31, 5))
    _, r = _sweep([0.0] * len(yaws), yaws, index)
    # positive yaw looks towards -x: the pupil and the iris move left
    assert bool((r.pupil[1:, 0] < r.pupil[:-1, 0]).all())
    assert bool((_centroids(r.masks, 2)[1:, 0] < _centroids(r.masks, 2)[:-1, 0]).all())
    assert float(r.pupil[0, 0] - r.pupil[-1, 0]) > 15  # ~20 px of travel at 120 px wide
    pitches = list(range(-25, 16, 5))
    _, r = _sweep(pitches, [0.0] * len(pitches), index)
    # positive pitch looks up (-y): the pupil rises, and the upper lid rises with it
    assert bool((r.pupil[1:, 1] < r.pupil[:-1, 1]).all())
    col = r.pupil[:, 0].round().long()
    rows = torch.arange(r.masks.shape[1]).view(1, -1)
    open_col = r.masks[torch.arange(len(col)), :, col] > 0
    lid = torch.where(open_col, rows, 10**6).min(1).values.float()
    assert bool((lid[1:] <= lid[:-1]).all()), f"upper lid does not follow pitch: {lid.tolist()}"
    assert float(lid[0] - lid[-1]) > 8


def test_gaze_is_recoverable_from_pupil_and_corners():
    # the pupil either as reported or as the centroid of the rendered pupil mask, relative to the
    # eye corners (head-fixed landmarks, as UnityEyes reports them), plus head pose
    def features(lat, r, pupil):
        mid = r.corners.mean(1)
        width = (r.corners[:, 1] - r.corners[:, 0]).norm(dim=1, keepdim=True)
        return torch.cat([(pupil - mid) / width, torch.stack([lat.head_pitch, lat.head_yaw], 1).float()], 1).numpy()

    train = sample_latents(range(2000), seed=0, split="train")
    test = sample_latents(range(500), seed=0, split="test")
    r_train, r_test = render(train, (36, 60)), render(test, (36, 60))
    target = torch.stack([train.pitch, train.yaw], 1).numpy()
    poly = PolynomialFeatures(2)
    for source in ("reported", "mask"):
        pick = (lambda r: r.pupil) if source == "reported" else (lambda r: _centroids(r.masks, 3))
        reg = Ridge(1e-4).fit(poly.fit_transform(features(train, r_train, pick(r_train))), target)
        pred = torch.as_tensor(reg.predict(poly.transform(features(test, r_test, pick(r_test)))))
        err = angular_error_deg(pitchyaw_to_vector(pred), test.gaze)
        assert float(err.mean()) < 3.0, f"pupil {source}: {float(err.mean()):.2f} deg"


def _lowbias32(x: int) -> int:
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_hash_matches_the_reference_and_uniforms_are_uniform():
    xs = [0, 1, 2, 12345, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
    assert rng.hash32(torch.tensor(xs)).tolist() == [_lowbias32(x) for x in xs]
    big = torch.randint(0, 2**32, (5000,), dtype=torch.int64)
    assert rng.hash32(big).tolist() == [_lowbias32(int(x)) for x in big]
    u = rng.uniform(rng.keys(7, 1, torch.arange(4000)), 8)
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.003
    assert len(torch.unique(u)) == u.numel()
    # a key depends on every coordinate
    k = rng.keys(0, 1, torch.arange(3))
    assert len({*k.tolist(), *rng.keys(1, 1, torch.arange(3)).tolist(), *rng.keys(0, 2, torch.arange(3)).tolist()}) == 9


def test_pixel_noise_depends_only_on_the_sample():
    keys = rng.keys(0, 1, torch.arange(6))
    whole = rng.pixel_normal(keys, (2, 5, 7))
    assert torch.equal(rng.pixel_normal(keys[[4, 1]], (2, 5, 7)), whole[[4, 1]])
    assert abs(float(whole.mean())) < 0.15 and abs(float(whole.std()) - 1) < 0.15


def _equalize_reference(img: np.ndarray) -> np.ndarray:
    """OpenCV's equalizeHist, written out."""
    hist = np.bincount(img.ravel(), minlength=256)
    cdf = hist.cumsum()
    cmin = cdf[hist > 0][0]
    lut = np.clip(np.round((cdf - cmin) / max(img.size - cmin, 1) * 255), 0, 255)
    return lut[img]


def test_equalize_matches_opencv_and_spreads_the_histogram():
    g = torch.Generator().manual_seed(0)
    imgs = (torch.rand(3, 1, 20, 30, generator=g) * 60 + 80).round()
    out = equalize(imgs)
    for i in range(3):
        assert np.array_equal(out[i, 0].numpy(), _equalize_reference(imgs[i, 0].numpy().astype(np.int64)))
    assert float(out.max()) == 255 and float(out.min()) == 0
    rgb = imgs.expand(3, 3, 20, 30) * torch.tensor([1.0, 0.9, 0.8]).view(1, 3, 1, 1)
    eq = equalize(rgb.round())
    ratio = (eq[:, 0] + 1) / (eq[:, 2] + 1)
    assert float(ratio.mean()) > 1.1  # chroma kept: red stays above blue


def test_jpeg_known_answers():
    flat = torch.full((2, 3, 16, 24), 100.0)
    out = jpeg(flat, torch.tensor([10.0, 90.0]))
    # a flat block is pure DC: it stays flat, off by the DC step (quality 10: DC 8*(100-128) = -224,
    # step 80 -> -240 -> 98) and exact at quality 90 (step 3 -> -225 -> 99.875 -> 100)
    assert torch.equal(out[0], torch.full_like(out[0], 98.0)) and torch.equal(out[1], flat[1])
    g = torch.Generator().manual_seed(1)
    img = (torch.rand(2, 1, 36, 60, generator=g) * 255).round()   # gray: no chroma subsampling
    hi = (jpeg(img, torch.tensor([100.0, 100.0])) - img).abs().mean()
    lo = (jpeg(img, torch.tensor([20.0, 20.0])) - img).abs().mean()
    assert float(hi) < 1 and float(lo) > 20
    # RGB: 4:2:0 chroma keeps a smooth colour image close
    rgb = torch.stack([torch.linspace(40, 200, 60).expand(36, 60), torch.full((36, 60), 120.0),
                       torch.linspace(200, 60, 36).view(36, 1).expand(36, 60)]).unsqueeze(0)
    assert float((jpeg(rgb, torch.tensor([95.0])) - rgb).abs().mean()) < 2
    # the DCT of a flattened block is orthonormal: quality 100 on a smooth image is near-lossless
    smooth = torch.linspace(0, 255, 60).view(1, 1, 1, 60).expand(1, 1, 36, 60).contiguous()
    assert float((jpeg(smooth, torch.tensor([100.0])) - smooth).abs().max()) <= 2
    assert math.isclose(float((torch.kron(torch.eye(8), torch.eye(8))).sum()), 64)
