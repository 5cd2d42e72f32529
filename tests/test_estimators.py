"""Estimators: known answers (ALR, cascaded k-NN, CNN size), checkpoints, errors, and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gazebench.geometry import angular_error_deg, normalize
from gazebench.testing import make_toy_eyes
from gazebench.types import EyeBatch
from gazebench_plugins.estimators.alr import ALREstimator, sparse_weights
from gazebench_plugins.estimators.classical import RandomForestEstimator, SVREstimator
from gazebench_plugins.estimators.knn import CascadedKNNEstimator
from gazebench_plugins.estimators.nets import GazeCNN, TimmGazeNet, count_parameters, trunk_output
from gazebench_plugins.estimators.neural import CNNEstimator, TimmEstimator

from conftest import run_cli


def _err(pred: torch.Tensor, gaze: torch.Tensor) -> torch.Tensor:
    return angular_error_deg(pred.double(), gaze.double())


# --- the paper's CNN -------------------------------------------------------------------------

def test_cnn_shape_and_parameter_count_at_36x60_and_35x55():
    assert trunk_output((35, 55)) == (192, 5, 10)  # the paper's "FC 9600" is the flattened trunk
    assert trunk_output((36, 60)) == (192, 5, 11)
    conv = 1 * 32 * 9 + 32 + 32 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 80 * 9 + 80 + 80 * 192 * 9 + 192
    net = GazeCNN((36, 60))
    assert count_parameters(net) == conv + 10560 * 1000 + 1000 + 1000 * 3 + 3 == 10_776_659
    assert count_parameters(GazeCNN((35, 55))) == conv + 9600 * 1000 + 1000 + 3003 == 9_816_659
    assert count_parameters(GazeCNN((36, 60), head_pose=True)) == 10_776_659 + 2 * 3
    out = net(torch.zeros(4, 1, 36, 60))
    assert out.shape == (4, 3)
    with pytest.raises(ValueError, match="too small"):
        trunk_output((18, 60))


def test_cnn_learns_toy_gaze_and_beats_the_mean():
    train, test = make_toy_eyes(240, stream=1), make_toy_eyes(60, stream=2)
    est = CNNEstimator(device="cpu", epochs=4, batch_size=32, seed=0, verbose=False).fit(train)
    err = float(_err(est.predict(test.without_labels()), test.gaze).mean())
    mean_err = float(_err(normalize(train.gaze.mean(0)).expand(60, 3), test.gaze).mean())
    assert mean_err > 8 and err < mean_err / 2
    assert 1 <= len(est.history_) <= 4 and est.best_epoch_ == int(np.argmin(est.history_)) + 1


def test_cnn_early_stopping_stops_and_restores_the_best_epoch():
    train = make_toy_eyes(64, (20, 20), stream=1)
    est = CNNEstimator(device="cpu", epochs=20, patience=2, lr=0.5, image_size=[20, 20], seed=1,
                       verbose=False).fit(train)
    assert len(est.history_) < 20  # a learning rate this high never improves for long
    assert est.best_epoch_ == int(np.argmin(est.history_)) + 1


def test_cnn_seed_changes_the_network_and_the_same_seed_repeats_it():
    train, test = make_toy_eyes(40, (20, 20), stream=1), make_toy_eyes(5, (20, 20), stream=2)
    kw = dict(device="cpu", epochs=1, image_size=(20, 20), verbose=False)
    a = CNNEstimator(seed=1, **kw).fit(train).predict(test)
    b = CNNEstimator(seed=1, **kw).fit(train).predict(test)
    c = CNNEstimator(seed=2, **kw).fit(train).predict(test)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_cnn_checkpoint_loads_with_weights_only_and_rejects_a_mismatch(tmp_path):
    train = make_toy_eyes(30, (20, 20), stream=1)
    est = CNNEstimator(device="cpu", epochs=1, image_size=[20, 20], verbose=False, seed=0).fit(train)
    path = tmp_path / "cnn.pt"
    est.save(path)
    state = torch.load(path, weights_only=True)
    assert state["class"] == "CNNEstimator" and state["params"]["image_size"] == [20, 20]
    assert set(state["net"]) >= {"fc1.weight", "fc2.bias"}
    with pytest.raises(ValueError, match="does not fit"):
        CNNEstimator(device="cpu", image_size=[24, 24]).load(path)
    with pytest.raises(ValueError, match="not written by SVREstimator"):
        SVREstimator().load(path)


def test_cnn_uses_head_pose_when_the_data_has_it_and_says_when_it_is_missing():
    train = make_toy_eyes(30, (20, 20), stream=1)
    est = CNNEstimator(device="cpu", epochs=1, image_size=[20, 20], verbose=False, seed=0).fit(train)
    assert est.uses_head_pose_ and est.net_.fc2.in_features == 1002
    with pytest.raises(ValueError, match="head_pose=false"):
        est.predict(train.replace(head_pose=None))
    with pytest.raises(ValueError, match="normalize must be one of"):
        CNNEstimator(normalize="zscore").fit(train)


def test_timm_builds_a_one_channel_backbone_and_refuses_downloads():
    net = TimmGazeNet("test_resnet", head_pose=True)
    assert net.backbone.default_cfg is not None and net(torch.zeros(2, 1, 36, 60), torch.zeros(2, 2)).shape == (2, 3)
    with pytest.raises(ValueError, match="unknown backbone"):
        TimmGazeNet("no_such_net")
    with pytest.raises(ValueError, match="nothing is downloaded"):
        TimmGazeNet("test_resnet", pretrained=True)
    with pytest.raises(FileNotFoundError, match="weights file"):
        TimmEstimator(backbone="test_resnet", weights="/nonexistent.pth", device="cpu").fit(make_toy_eyes(12))


def test_timm_loads_a_local_weights_file_into_the_one_channel_stem(tmp_path):
    import timm

    torch.manual_seed(0)
    reference = timm.create_model("test_resnet")  # 3-channel, as published weights are
    path = tmp_path / "test_resnet.pth"
    torch.save(reference.state_dict(), path)
    net = TimmGazeNet("test_resnet", weights=str(path))
    stem = next(k for k, v in reference.state_dict().items() if v.ndim == 4)
    # timm folds RGB weights into one channel by summing them
    assert torch.allclose(net.backbone.state_dict()[stem], reference.state_dict()[stem].sum(1, keepdim=True), atol=1e-6)


# --- ALR -------------------------------------------------------------------------------------

def _permuted_eyes(n: int, step: int, seed: int = 0) -> torch.Tensor:
    # every image is a permutation of the same pixel values, so all share one intensity total and
    # the grid feature of (a*I + b*J) is exactly a*f(I) + b*f(J) for a + b = 1
    g = torch.Generator().manual_seed(seed)
    values = torch.randint(1, 255 // step, (36 * 60,), generator=g) * step
    return torch.stack([values[torch.randperm(values.numel(), generator=g)].view(1, 36, 60) for _ in range(n)]).to(torch.uint8)


@pytest.mark.parametrize("wa", [0.5, 0.25])
def test_alr_recovers_a_gaze_that_is_an_exact_combination_of_training_gazes(wa):
    images = _permuted_eyes(8, step=4)
    gaze = make_toy_eyes(8, stream=9).gaze
    train = EyeBatch(images=images, gaze=gaze)
    mix = (wa * images[2].double() + (1 - wa) * images[5].double()).round().to(torch.uint8)[None]
    expected = normalize(wa * gaze[2].double() + (1 - wa) * gaze[5].double())
    est = ALREstimator(n_candidates=None, alpha=1e-7).fit(train)
    pred = est.predict(EyeBatch(images=mix))
    assert float(_err(pred, expected[None])) < 0.05
    w = sparse_weights(est.features_, est._design(EyeBatch(images=mix), False)[0], 1e-7, True)
    np.testing.assert_allclose(w, np.eye(8)[2] * wa + np.eye(8)[5] * (1 - wa), atol=2e-3)


def test_alr_on_toy_eyes_beats_the_mean_and_keeps_unit_vectors():
    train, test = make_toy_eyes(300, stream=1), make_toy_eyes(50, stream=2)
    pred = ALREstimator().fit(train).predict(test.without_labels())
    assert torch.allclose(pred.norm(dim=1), torch.ones(50), atol=1e-5)
    assert float(_err(pred, test.gaze).mean()) < 3.0


# --- cascaded k-NN ---------------------------------------------------------------------------

def test_knn_cascade_picks_neighbours_by_head_pose_first():
    base = make_toy_eyes(60, stream=1)
    other_gaze = normalize(torch.tensor([[0.3, -0.2, -1.0]])).expand(60, 3).float()
    turned = base.replace(gaze=other_gaze, head_pose=torch.full((60, 2), 0.3))
    train = EyeBatch.concat([base, turned])
    est = CascadedKNNEstimator(k=4, n_pose=60, n_pupil=20).fit(train)
    probe = base[:10].without_labels()
    # the same images: with the turned head every neighbour carries other_gaze ...
    assert float(_err(est.predict(probe.replace(head_pose=torch.full((10, 2), 0.3))), other_gaze[:10]).max()) < 1e-3
    # ... with the frontal head the exact training image (distance 0) dominates the weights
    assert float(_err(est.predict(probe), base.gaze[:10]).max()) < 0.01


def test_knn_with_labelled_pupils_is_near_exact_on_toy_eyes_and_checks_its_options():
    train, test = make_toy_eyes(400, stream=1), make_toy_eyes(50, stream=2)
    err = _err(CascadedKNNEstimator(pupil="labels").fit(train).predict(test.without_labels()), test.gaze)
    assert float(err.mean()) < 2.0
    with pytest.raises(ValueError, match="pupil must be one of"):
        CascadedKNNEstimator(pupil="guess").fit(train)
    with pytest.raises(ValueError, match="needs batch.pupil"):
        CascadedKNNEstimator(pupil="labels").fit(train).predict(test.replace(pupil=None))


# --- scikit-learn wrappers and their checkpoints ---------------------------------------------

def test_svr_and_rf_learn_toy_gaze():
    train, test = make_toy_eyes(300, stream=1), make_toy_eyes(50, stream=2)
    for est in (SVREstimator(), RandomForestEstimator(n_estimators=20, seed=0)):
        assert float(_err(est.fit(train).predict(test), test.gaze).mean()) < 6.0, type(est).__name__


def test_sklearn_models_round_trip_inside_the_weights_only_checkpoint(tmp_path):
    train, test = make_toy_eyes(60, stream=1), make_toy_eyes(8, stream=2)
    for est in (SVREstimator(pca=5, seed=1), RandomForestEstimator(n_estimators=3, seed=0)):
        est.fit(train)
        path = tmp_path / f"{type(est).__name__}.ckpt"
        est.save(path)
        state = torch.load(path, weights_only=True)
        assert state["format"] == "gazebench-estimators/2" and state["sklearn_skops"].dtype == torch.uint8
        assert "sklearn_file" not in state
        assert torch.equal(type(est)().load(path).predict(test), est.predict(test))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RandomForestEstimator.ckpt", "SVREstimator.ckpt"]


def test_classical_estimators_explain_bad_input():
    train = make_toy_eyes(20, stream=1)
    with pytest.raises(ValueError, match="unknown feature 'pixels'"):
        SVREstimator(feature="pixels").fit(train)
    with pytest.raises(ValueError, match="labelled"):
        SVREstimator().fit(train.without_labels())
    with pytest.raises(RuntimeError, match="not fitted"):
        ALREstimator().predict(train)
    with pytest.raises(ValueError, match="head_pose=false"):
        SVREstimator().fit(train).predict(train.replace(head_pose=None))
    assert not SVREstimator(head_pose=False).fit(train).uses_head_pose_


# --- end to end ------------------------------------------------------------------------------

def test_gazebench_run_trains_scores_and_caches_the_estimators(tmp_path):
    args = ["run", "--train", "toy", "--test", "toy-wild", "--n-train", "150", "--n-test", "40",
            "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "run.json"
    proc = run_cli(*args, "-e", "alr,knn,rf,cnn,mean", "-o", "cnn.epochs=2", "-o", "cnn.verbose=false",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text())
    rows = {r["estimator"]: r for r in record["rows"]}
    assert set(rows) == {"alr", "knn", "rf", "cnn", "mean"}
    for name in ("alr", "knn", "rf", "cnn"):
        assert math.isfinite(rows[name]["raw_mean_deg"])
        assert rows[name]["oracle_mean_deg"] < rows["mean"]["oracle_mean_deg"], name
    cnn = next(e for e in record["estimators"] if e["estimator"] == "cnn")
    assert cnn["component"]["params"]["epochs"] == 2 and cnn["component"]["params"]["device"] == "cpu"
    # a second run loads the fitted rf (one checkpoint, the model as skops bytes) from the cache: same numbers
    again = tmp_path / "again.json"
    proc = run_cli(*args, "-e", "rf", "--out", str(again))
    assert proc.returncode == 0, proc.stderr[-2000:]
    second = json.loads(again.read_text())
    assert second["estimators"][0]["fit_cached"] is True
    assert second["rows"][0]["raw_mean_deg"] == rows["rf"]["raw_mean_deg"]
