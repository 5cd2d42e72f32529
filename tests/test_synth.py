"""The ``synth`` / ``synth-wild`` datasets: determinism, splits, pairing, laziness, sizes, errors."""

from __future__ import annotations

import math

import pytest
import torch

from gazebench.geometry import vector_to_pitchyaw
from gazebench.testing import check_dataset
from gazebench.types import to_gray
from gazebench_plugins.synth import dataset as synth_dataset
from gazebench_plugins.synth.dataset import SynthEyes, SynthEyesWild


def _load(cls=SynthEyes, split="train", n=24, size=(36, 60), seed=0, **params):
    return cls(**params).load(split, size=size, limit=n, seed=seed)


@pytest.mark.parametrize("cls", [SynthEyes, SynthEyesWild])
def test_same_bytes_whatever_the_batch(cls, monkeypatch):
    data = _load(cls, n=40)
    whole = data.take()
    some = data.batch([31, 2, 17])
    assert torch.equal(some.images, whole.images[[31, 2, 17]])
    assert torch.equal(some.masks, whole.masks[[31, 2, 17]])
    assert torch.equal(data[17].image, whole.images[17]) and torch.equal(data[-1].image, whole.images[39])
    # tiny chunks: every sample rendered in a different chunk gives the same bytes
    monkeypatch.setattr(synth_dataset, "CHUNK_PIXELS", 36 * 60 * 3)
    chunked = data.take()
    for name in ("images", "masks", "pupil", "gaze", "head_pose", "subject", "pair"):
        assert torch.equal(getattr(chunked, name), getattr(whole, name)), name


def test_splits_draw_disjoint_eyes_and_share_subjects():
    batches = {s: _load(split=s, n=30).take() for s in ("train", "test", "unlabelled")}
    for a, b in (("train", "test"), ("train", "unlabelled"), ("test", "unlabelled")):
        dist = torch.cdist(batches[a].gaze, batches[b].gaze)
        assert float(dist.min()) > 1e-6, f"{a} and {b} share a latent eye"
        assert not torch.equal(batches[a].images, batches[b].images)
        assert torch.equal(batches[a].subject, batches[b].subject)  # subject = index % n_subjects
    assert batches["train"].subject.tolist() == [i % 15 for i in range(30)]


def test_seed_selects_other_eyes():
    a, b = _load(seed=0).take(), _load(seed=1).take()
    assert float(torch.cdist(a.gaze, b.gaze).min()) > 1e-6
    assert torch.equal(_load(seed=1).take().images, b.images)


def test_wild_is_the_same_latent_eye_in_another_style():
    assert SynthEyesWild.paired_with == "synth" and SynthEyes.paired_with is None
    clean = _load(SynthEyes, split="test", n=32).take()
    wild = _load(SynthEyesWild, split="test", n=32).take()
    assert clean.pair.tolist() == wild.pair.tolist() == list(range(32))
    for name in ("gaze", "head_pose", "masks", "pupil", "subject"):
        assert torch.equal(getattr(clean, name), getattr(wild, name)), name
    diff = (clean.images.float() - wild.images.float()).abs().mean((1, 2, 3))
    assert float(diff.min()) > 5, "a wild image is (nearly) identical to its clean pair"


def test_labels_are_valid_and_carry_every_region():
    b = _load(n=200).take()
    assert torch.allclose(b.gaze.norm(dim=1), torch.ones(200), atol=1e-5) and bool((b.gaze[:, 2] < 0).all())
    py = torch.rad2deg(vector_to_pitchyaw(b.gaze.double()))
    assert float(py[:, 0].min()) >= -25.01 and float(py[:, 0].max()) <= 15.01
    assert float(py[:, 1].min()) >= -30.01 and float(py[:, 1].max()) <= 30.01
    assert float(py[:, 1].std()) > 12  # spread over the range, not collapsed
    assert float(b.head_pose.abs().max()) <= math.radians(15.01)  # 2.5 x 6 deg
    assert b.masks.dtype == torch.uint8
    for label in (0, 1, 2, 3):
        share = (b.masks == label).flatten(1).any(1).float().mean()
        assert float(share) > 0.95, f"label {label} missing from {1 - float(share):.0%} of masks"
    assert bool(((b.pupil >= 0) & (b.pupil <= torch.tensor([59.0, 35.0]))).all())


def test_any_size_with_consistent_geometry():
    small = _load(n=16, size=(36, 60)).take()
    big = _load(n=16, size=(72, 120)).take()
    assert big.images.shape == (16, 3, 72, 120) and big.masks.shape == (16, 72, 120)
    # pixel centres: (x + 0.5) scales with the image
    assert torch.allclose((small.pupil + 0.5) * 2 - 0.5, big.pupil, atol=1e-3)
    square = _load(SynthEyesWild, n=4, size=(128, 128)).take()
    assert square.images.shape == (4, 3, 128, 128)
    odd = _load(SynthEyesWild, n=4, size=(17, 29)).take()
    assert odd.images.shape == (4, 3, 17, 29)


@pytest.mark.parametrize("cls", [SynthEyes, SynthEyesWild])
def test_gray_channel_is_the_luma_of_rgb(cls):
    rgb = _load(cls, n=8).take().images
    gray = _load(cls, n=8, channels=1).take().images
    assert gray.shape == (8, 1, 36, 60)
    if cls is SynthEyes:  # luma before rounding: at most one level from the luma of rounded RGB
        assert int((gray.int() - to_gray(rgb).int()).abs().max()) <= 1
    else:  # noise, equalisation and JPEG act on one channel: similar, not equal
        assert float((gray.float() - to_gray(rgb).float()).abs().mean()) < 25


def test_lazy_million_and_huge_indices():
    data = SynthEyes(n_train=10**6).load("train")
    assert len(data) == 10**6
    assert data[999_999].image.shape == (3, 36, 60)
    huge = SynthEyes(n_train=2**33).load("train")
    a, b = huge.batch([5]), huge.batch([2**32 + 5])
    assert not torch.equal(a.gaze, b.gaze), "indices 2**32 apart must not repeat"


@pytest.mark.parametrize("cls", [SynthEyes, SynthEyesWild])
def test_conformance_at_purifier_size(cls):
    ds = cls(**cls.test_params)
    ds.name = "synth-wild" if cls is SynthEyesWild else "synth"
    assert "deterministic" in check_dataset(ds, size=(128, 128), n=4)


def test_bad_input_is_a_one_line_error():
    with pytest.raises(ValueError, match="has no split 'val'"):
        SynthEyes().load("val")
    with pytest.raises(ValueError, match="at least 8x8"):
        SynthEyes().load("train", size=(4, 60))
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        SynthEyes(channels=2).load("train")
    with pytest.raises(ValueError, match="pitch_range_deg"):
        SynthEyes(pitch_range_deg=[10]).load("train")
    with pytest.raises(ValueError, match="within \\[-80, 80\\]"):
        SynthEyes(yaw_range_deg=[30, -30]).load("train")
    with pytest.raises(ValueError, match="n_subjects"):
        SynthEyes(n_subjects=0).load("train")
    with pytest.raises(ValueError, match="severity must lie in"):
        SynthEyesWild(severity=5).load("train")
    data = _load(n=10)
    with pytest.raises(IndexError, match="index 10 out of range for 10"):
        data.batch([3, 10])
    with pytest.raises(IndexError):
        data[10]
