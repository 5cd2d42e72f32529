"""End to end through the real console entry point: purify (paired metrics, grid), train-purifier
(checkpoint, then purify from it), and gazebench run with the paper's purifier on tiny data."""

from __future__ import annotations

import json

from PIL import Image

from conftest import run_cli

TINY = ["-o", "iterations=2", "-o", "warmup=2", "-o", "width=4", "-o", "n_residual=1", "-o", "batch_size=2",
        "-o", "loss_net=efficientnet_lite0", "-o", "loss_weights=random", "-o", "progress=false",
        "-o", "seg_iterations=2"]


def test_purify_writes_images_grid_and_paired_metrics(tmp_path):
    out = tmp_path / "cmp"
    r = run_cli("purify", "-p", "identity,reinhard", "-d", "toy-wild", "--style", "toy", "-n", "8",
                "--n-style", "16", "--out", str(out))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((out / "metrics.json").read_text())["purifiers"]
    ident, rein = metrics["identity"], metrics["reinhard"]
    assert ident["raw_psnr_db"] == ident["purified_psnr_db"] and ident["pupil_shift_px_mean"] == 0
    assert rein["purified_psnr_db"] > rein["raw_psnr_db"] and rein["purified_ssim"] > rein["raw_ssim"]
    assert len(list((out / "reinhard" / "images").glob("*.png"))) == 8
    grid = Image.open(out / "grid.png")
    assert grid.size == (8 * 60 * 4, 4 * 36 * 4)  # rows: raw, identity, reinhard, paired toy
    assert "reinhard" in r.stdout and "PSNR" in r.stdout


def test_train_purifier_then_purify_from_checkpoint(tmp_path):
    ckpt = tmp_path / "att.ckpt"
    sets = [s if s == "-o" else f"attention.{s}" for s in TINY]  # one -o syntax: COMPONENT.PARAM=VALUE
    r = run_cli("train-purifier", "-p", "attention", "--content", "toy-wild", "--style", "toy", "--n-content", "8",
                "--n-style", "8", "--out", str(ckpt), *sets)
    assert r.returncode == 0, r.stderr
    assert ckpt.is_file() and (tmp_path / "att.ckpt.partial").is_file()
    assert "fitted attention on 8 toy-wild + 8 toy images" in r.stdout and "RANDOM" in r.stderr
    out = tmp_path / "p"
    r = run_cli("purify", "-p", "attention", "--checkpoint", str(ckpt), "-d", "toy-wild", "--style", "toy",
                "-n", "4", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert len(list((out / "attention" / "images").glob("*.png"))) == 4
    # the speed knobs are purifier parameters purify honours: same checkpoint, bf16 + channels_last
    knob = tmp_path / "k"
    r = run_cli("purify", "-p", "attention", "--checkpoint", str(ckpt), "-d", "toy-wild", "--style", "toy",
                "-n", "4", "--out", str(knob), "-o", "attention.dtype=bf16", "-o", "attention.channels_last=true")
    assert r.returncode == 0, r.stderr
    import numpy as np

    for png in sorted((out / "attention" / "images").glob("*.png")):
        a, b = (np.asarray(Image.open(d / "attention" / "images" / png.name), dtype=int) for d in (out, knob))
        assert a.shape == b.shape and np.abs(a - b).max() <= 3
    bad = run_cli("train-purifier", "-p", "reinhard", "--preset", "paper", "--content", "toy-wild", "--style", "toy")
    assert bad.returncode != 0 and "has no presets" in bad.stderr and "Traceback" not in bad.stderr


def test_run_with_attention_records_the_loss_network(tmp_path):
    sets = [s if s == "-o" else f"attention.{s}" for s in TINY]  # run's COMPONENT.PARAM=VALUE
    sets += ["-o", "attention.channels_last=true"]  # a speed knob: a parameter like any other
    rec = tmp_path / "run.json"
    r = run_cli("run", "--purifier", "identity,reinhard,attention", "--estimator", "mean", "--train", "toy",
                "--test", "toy-wild", "--n-train", "40", "--n-test", "12", "--n-unlabelled", "12",
                "--out", str(rec), *sets)
    assert r.returncode == 0, r.stderr
    record = json.loads(rec.read_text())
    assert [row["purifier"] for row in record["rows"]] == ["identity", "reinhard", "attention"]
    notes = " ".join(record["notes"])
    assert "attention: loss network: efficientnet_lite0, RANDOM" in notes and "2 Adam iterations" in notes
    assert record["config"]["masks_from"] == "dataset"
    att = next(p for p in record["purifiers"] if p["purifier"] == "attention")
    assert att["component"]["params"]["channels_last"] is True and att["component"]["params"]["dtype"] == "float32"


def test_purify_unpaired_data_reports_the_segmenter_shift_beside_its_floor(tmp_path):
    """Real eyes have no paired reference: the table is the segmenter's raw -> purified pupil shift
    and its floor on a photometric control (identity moves nothing: exactly 0)."""
    import numpy as np

    from gazebench.testing import make_toy_eyes

    eyes = make_toy_eyes(list(range(12)), (36, 60), seed=3, stream=1, wild=True).images
    np.savez(tmp_path / "eyes.npz", images=eyes[:, 0].numpy())
    out = tmp_path / "real"
    r = run_cli("purify", "-p", "identity,reinhard", "-d", "npz", "--root", str(tmp_path / "eyes.npz"),
                "--split", "unlabelled", "--style", "toy", "--n-style", "40", "-n", "12", "--masks", "threshold",
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["paired"] is False and m["segmenter"] == "threshold" and m["n"] == 12
    ident, rein = m["purifiers"]["identity"], m["purifiers"]["reinhard"]
    assert ident["pupil_seg_shift_px"] == 0.0 and ident["pupil_seg_found"] > 0.5
    assert abs(ident["raw_corr"] - 1) < 1e-9 and abs(ident["spread_ratio"] - 1) < 1e-9
    assert rein["pupil_seg_shift_px"] is not None and rein["pupil_seg_shift_px"] >= 0
    assert m["pupil_seg_floor_px"] is not None and m["pupil_seg_floor_px"] >= 0
    assert "floor px" in r.stdout and "threshold" in r.stdout


def test_purify_unpaired_without_the_pupil_shift_fits_no_segmenter(tmp_path):
    """--no-pupil-shift on real-style data: images and timings only, no segmenter fitted."""
    import numpy as np

    from gazebench.testing import make_toy_eyes

    eyes = make_toy_eyes(list(range(6)), (36, 60), seed=3, stream=1, wild=True).images
    np.savez(tmp_path / "eyes.npz", images=eyes[:, 0].numpy())
    out = tmp_path / "real"
    r = run_cli("purify", "-p", "identity,reinhard", "-d", "npz", "--root", str(tmp_path / "eyes.npz"),
                "--split", "unlabelled", "--style", "toy", "--n-style", "20", "-n", "6", "--no-pupil-shift",
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "fitting segmenter" not in r.stderr and "pupil shift not measured (--no-pupil-shift)" in r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["paired"] is False and "segmenter" not in m and m["n"] == 6
    assert set(m["purifiers"]) == {"identity", "reinhard"}
    assert "pupil_seg_shift_px" not in m["purifiers"]["identity"] and m["purifiers"]["identity"]["n"] == 6
    assert len(list((out / "reinhard" / "images").iterdir())) == 6
