"""Known-answer tests of the estimators' shared features and the pupil finder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazebench.testing import make_toy_eyes
from gazebench_plugins.estimators.features import (
    check_feature, estimate_pupil, extract, grid_feature, hog_feature, raw_pixels, resolve_seed)


def _const(value: int, size=(36, 60), n: int = 2) -> torch.Tensor:
    return torch.full((n, 1, *size), value, dtype=torch.uint8)


@pytest.mark.parametrize("value", [1, 128, 255])
def test_grid15_of_a_constant_image_is_one_fifteenth_everywhere(value):
    f = grid_feature(_const(value))
    assert f.shape == (2, 15) and f.dtype == np.float32
    np.testing.assert_allclose(f, np.full((2, 15), 1 / 15), rtol=1e-6)


def test_grid15_of_a_black_image_is_the_area_fractions():
    np.testing.assert_allclose(grid_feature(_const(0)), np.full((2, 15), 1 / 15), rtol=1e-6)
    # 35 x 55 does not split evenly: rows of 12, 11, 12 px and columns of 11 px
    f = grid_feature(_const(0, (35, 55)))[0].reshape(3, 5)
    np.testing.assert_allclose(f[:, 0], np.array([12, 11, 12]) * 11 / (35 * 55), rtol=1e-6)
    np.testing.assert_allclose(grid_feature(_const(90, (35, 55))), grid_feature(_const(0, (35, 55))), rtol=1e-6)


def test_grid15_puts_all_weight_in_the_only_lit_cell():
    img = _const(0, n=1)
    img[0, 0, 12:24, 48:60] = 200  # middle row, last column: cell index 1 * 5 + 4
    expected = np.zeros(15, dtype=np.float32)
    expected[9] = 1.0
    np.testing.assert_allclose(grid_feature(img)[0], expected, atol=1e-7)


def test_hog_of_a_horizontal_ramp_splits_votes_between_the_two_bins_round_zero_degrees():
    ramp = torch.arange(60, dtype=torch.uint8).view(1, 1, 1, 60).expand(1, 1, 36, 60).contiguous()
    f = hog_feature(ramp)
    assert f.shape == (1, 5 * 9 * 4 * 9)  # 6x10 cells of 6 px -> 5x9 blocks of 2x2 cells x 9 bins
    blocks = f.reshape(5 * 9 * 4, 9)
    # the gradient points along +x (0 deg): half a vote to the 10 deg bin, half to the 170 deg bin
    interior = blocks[4 * 1 + 1]  # a block away from the image border
    assert interior[0] == pytest.approx(interior[8], rel=1e-5) and interior[0] > 0
    np.testing.assert_allclose(interior[1:8], 0, atol=1e-7)
    # a vertical ramp points along +y (90 deg): the 90 deg bin (index 4) takes every vote
    vramp = ramp.transpose(2, 3)[:, :, :36, :36].contiguous()
    vb = hog_feature(vramp).reshape(-1, 9)
    assert float(vb[:, 4].sum()) > 0 and float(np.delete(vb, 4, axis=1).sum()) == pytest.approx(0, abs=1e-6)


def test_hog_of_a_constant_image_is_zero():
    assert float(np.abs(hog_feature(_const(77))).max()) == 0.0


def test_raw_pixels_are_standardised_and_ignore_a_global_gain_and_offset():
    base = make_toy_eyes(3, (36, 60), stream=1).images
    brighter = (base.float() * 0.8 + 30).round().to(torch.uint8)
    a, b = raw_pixels(base), raw_pixels(brighter)
    assert a.shape == (3, 18 * 30)
    np.testing.assert_allclose(a.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(1, ddof=1), 1, rtol=1e-4)
    assert np.abs(a - b).max() < 0.05  # only the rounding of the brightened image differs


def test_extract_checks_the_feature_name_and_the_image_layout():
    with pytest.raises(ValueError, match="unknown feature 'sift'.*raw, grid15, hog"):
        check_feature("sift", "svr")
    with pytest.raises(ValueError, match="gray"):
        extract("hog", torch.zeros(1, 3, 36, 60, dtype=torch.uint8))
    assert extract("grid15", _const(5)).shape == (2, 15)


def test_estimate_pupil_finds_the_pupil_of_clean_and_wild_toy_eyes():
    clean = make_toy_eyes(40, (36, 60), stream=3)
    err = (estimate_pupil(clean.images) - clean.pupil).norm(dim=1)
    assert float(err.max()) < 1.0
    wild = make_toy_eyes(40, (36, 60), stream=3, wild=True)
    err = (estimate_pupil(wild.images) - wild.pupil).norm(dim=1)
    assert float(err.median()) < 1.5


def test_resolve_seed_is_the_seed_or_follows_torchs_global_generator():
    assert resolve_seed(7) == 7
    torch.manual_seed(3)
    a = resolve_seed(None)
    torch.manual_seed(3)
    assert resolve_seed(None) == a


def test_equalize_maps_each_pixel_to_its_images_cdf_and_ignores_increasing_changes():
    from gazebench_plugins.estimators.neural import equalize

    img = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    img[..., 2:] = 200  # half the pixels at 0, half at 200
    out = equalize(img)
    assert set(out.unique().tolist()) == {0.5, 1.0}
    eyes = make_toy_eyes(2, stream=4, wild=True).images // 3  # <= 85: the remap cannot overflow
    assert torch.equal(equalize(eyes), equalize(eyes * 2 + 3))  # a strictly increasing remap


def test_photometric_augmentation_is_seeded_keeps_shape_and_is_off_at_strength_zero():
    from gazebench_plugins.estimators.augment import photometric

    x = make_toy_eyes(6, stream=4).images
    a = photometric(x, torch.Generator().manual_seed(1))
    b = photometric(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == torch.uint8 and torch.equal(a, b)
    assert (a.float() - x.float()).abs().mean() > 5
    assert photometric(x, torch.Generator().manual_seed(1), strength=0) is x


def test_precision_auto_is_bf16_only_on_a_cpu_that_supports_it():
    from gazebench_plugins.estimators.neural import resolve_precision

    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("auto", "cuda") == "fp32"
    assert resolve_precision("auto", "cpu") == ("bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32")
