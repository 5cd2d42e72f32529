"""Known answers for the issue-18 research scripts in results/realism/ (loaded by path: not a package)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1] / "results" / "realism"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"realism_{name}", ROOT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_paired_difference_and_its_t_interval(tmp_path):
    tune = _load("tune")
    base = {"name": "b", "render_seeds": [0, 1, 2, 3, 4], "hist": [0.60, 0.62, 0.64, 0.66, 0.68], "hist_mean": 0.64}
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(base) + "\n")
    # differences 0.01, 0.03, 0.02, 0.00, 0.04: mean 0.02, sd 0.0158, t(4) 2.776 -> half-width 0.0196
    line = {"name": "c", "render_seeds": [0, 1, 2, 3, 4], "hist": [0.61, 0.65, 0.66, 0.66, 0.72], "hist_mean": 0.66}
    text = tune.paired(line, "b", str(log))
    assert "paired difference +0.020 (95% interval +0.000 to +0.040" in text
    assert "+0.010 +0.030 +0.020 +0.000 +0.040" in text
    with pytest.raises(SystemExit, match="render seeds"):
        tune.paired({**line, "render_seeds": [0, 1]}, "b", str(log))


def test_a_missing_baseline_stops_tune_before_it_measures(tmp_path):
    tune = _load("tune")
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"name": "b", "render_seeds": [0]}) + "\n")
    tune.check_baseline("b", "c", str(log))                       # present: goes on
    tune.check_baseline("c", "c", str(log))                       # the line being measured: goes on
    with pytest.raises(SystemExit, match="no line of that name"):
        tune.check_baseline("v2", "c", str(log))
    with pytest.raises(SystemExit, match="no line of that name"):
        tune.check_baseline("b", "c", str(tmp_path / "absent.jsonl"))


def test_latent_table_reads_the_light_direction_the_renderer_draws():
    realest = _load("realest")
    from gazebench_plugins.synth.latents import LatentConfig, sample_latents
    from gazebench_plugins.synth.wild import wild_light, wild_uniforms

    tab = realest.latent_table(64, seed=3)
    lat = sample_latents(torch.arange(64), seed=3, split="unlabelled", config=LatentConfig())
    d = wild_light(lat, wild_uniforms(lat)).direction.double().numpy()
    in_plane = np.hypot(d[:, 0], d[:, 1])
    np.testing.assert_allclose(tab["light_from_right"], d[:, 0] / in_plane, atol=1e-9)
    np.testing.assert_allclose(tab["light_from_below"], d[:, 1] / in_plane, atol=1e-9)
    np.testing.assert_allclose(tab["pitch"], lat.pitch.numpy())
    assert set(np.unique(tab["subject"])) == set(range(15))


def test_layout_block_means_and_their_classifier(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))      # layout.py imports tune as its sibling, as when run as a script
    layout = _load("layout")
    x = np.arange(2 * 12 * 13, dtype=np.float64).reshape(2, 12, 13)
    b = layout.blocks(x)
    assert b.shape == (2, 2, 2)                  # the 13th column is dropped: whole 6x6 blocks only
    assert b[0, 0, 0] == x[0, :6, :6].mean() == singleton_block_mean(x)
    assert b[1, 1, 1] == x[1, 6:12, 6:12].mean()
    rng = np.random.default_rng(0)
    a = rng.normal(100, 20, (60, 36, 60))
    lit_top = a.copy()
    lit_top[:, :6] += 40                         # brighter top rows: one block row apart
    assert layout.block_accuracy(a, lit_top) == 1.0
    same = rng.normal(100, 20, (60, 36, 60))
    assert 0.3 < layout.block_accuracy(a, same) < 0.7


def singleton_block_mean(x: np.ndarray) -> float:
    return float(sum(x[0, i, j] for i in range(6) for j in range(6)) / 36)


def test_sharpness_tail_laplacian_per_crop(monkeypatch):
    # round 11: a flat crop reads 0, a 0/255 checkerboard 1020 (four neighbours at the other level)
    monkeypatch.syspath_prepend(str(ROOT))
    tail = _load("sharpness_tail")
    board = (np.indices((6, 8)).sum(0) % 2) * 255.0
    lap = tail.laplacian(np.stack([np.zeros((6, 8)), board]))
    assert lap.tolist() == [0.0, 1020.0]


def test_hist_fit_writes_replayable_code_and_its_features(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    fit = _load("hist_fit")
    # an empty base gives no leading separator (it once raised a SyntaxError in exec)
    assert fit.code_of("", {"read": 1.5}) == "W.update(read_noise=(1.05*1.5000, 2.8*1.5000))"
    assert fit.code_of("L.update(hollow=0.0);", {"exposure": 0.1}) == "L.update(hollow=0.0); T.update(exposure=0.2+0.1000)"
    consts = _load("blocks").constants()
    saved = dict(consts["W"])
    try:
        exec(fit.code_of("", {"read": 2.0, "blur": 1.0}), dict(consts))   # runs against the renderer's tables
        assert consts["W"]["read_noise"] == pytest.approx((2.1, 5.6))
        assert consts["W"]["blur_px"] == pytest.approx((0.86, 1.5))
    finally:
        consts["W"].clear()
        consts["W"].update(saved)
    x = np.random.default_rng(0).integers(0, 256, (3, 36, 60)).astype(np.float64)
    monkeypatch.setattr(fit, "FEATS", "hist")
    assert fit.feats(x).shape == (3, 64)
    monkeypatch.setattr(fit, "FEATS", "hist,bands")
    f = fit.feats(x)
    assert f.shape == (3, 64 + 3 * 32)
    # every histogram block is a share of the pixels: each sums to 1
    assert np.allclose(f[:, :32].sum(1), 1) and np.allclose(f[:, 64:80].sum(1), 1)


def test_v2_code_renders_renderer_version_2s_bytes():
    import hashlib

    from gazebench_plugins.synth.dataset import SynthEyes, SynthEyesWild
    from gazebench_plugins.synth.versions import tables_restored

    blocks = _load("blocks")

    def digest(ds) -> str:
        img = ds.load("test", size=(36, 60), limit=24, seed=3).take().images
        return hashlib.sha256(img.numpy().tobytes()).hexdigest()[:16]

    with tables_restored():
        exec(blocks.V2_CODE, dict(blocks.constants()))
        # the bytes tests/test_synth_effects.py pinned for version 2 (and synth's since version 1)
        # version 2's colour bytes on the Intel and the AMD machines (one set, kept there)
        from tests.test_synth_effects import V2_BYTES

        assert digest(SynthEyesWild(channels=3)) in V2_BYTES
        assert digest(SynthEyesWild(channels=1)) == "c1f625f7db0eaac1"
        assert digest(SynthEyes(channels=3)) == "d923bbe03884b382"
    assert digest(SynthEyesWild(channels=3)) == "5a34e717f611aff0"      # version 3 again, restored


def test_round15_sensitivity_manipulations_and_the_same_camera_draws(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))       # r15_sensitivity imports r15_identity by name
    sens = _load("r15_sensitivity")
    from gazebench.realism import median3, shift_rows

    x = np.zeros((1, 5, 4))
    x[0, 2, 1] = 90.0                              # one outlier: the 3x3 median removes it
    assert np.array_equal(median3(x), np.zeros((1, 5, 4)))
    x[0, 1:4, 0:3] = 90.0                          # a 3x3 block keeps its centre
    assert median3(x)[0, 2, 1] == 90.0
    rows = np.arange(5.0).reshape(1, 5, 1) * np.ones((1, 5, 4))
    # 2 px up: row i shows row i + 2, the last row repeated; down: row i - 2, the first repeated
    assert shift_rows(rows, -2)[0, :, 0].tolist() == [2, 3, 4, 4, 4]
    assert shift_rows(rows, 2)[0, :, 0].tolist() == [0, 0, 0, 1, 2]
    assert set(sens.manipulations(0)) >= {"mirrored", "2 px up", "median 3x3"}
    top = sens._top(np.full((1, 12, 3), 100.0), 30.0)[0, :, 0]
    assert top[0] == 130 and top[8] == 100 and top[11] == 100 and top[4] == 115
    ident = _load("r15_identity")
    # one camera: every image of the participant takes the first one's camera draws, nothing else
    from gazebench_plugins.synth.latents import sample_latents
    from gazebench_plugins.synth.wild import wild_uniforms

    u = wild_uniforms(sample_latents(torch.arange(6), seed=3, split="test"))
    seen = {}

    def degrade(img, lat, uu, ppm, channels):      # records the draws it is given
        seen["u"] = uu.clone()
        return torch.zeros(len(uu), 1, 36, 60)

    monkeypatch.setattr(ident, "degrade", degrade)
    ident.renders(np.arange(6), 3, same_camera=True)
    got = seen["u"]
    cam = ident.CAMERA_SLOTS
    assert torch.equal(got[:, cam], u[:1, cam].expand(6, -1))
    other = [k for k in range(u.shape[1]) if k not in cam]
    assert torch.equal(got[:, other], u[:, other])
