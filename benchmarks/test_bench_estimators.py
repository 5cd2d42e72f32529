"""Estimator costs: the paper CNN's training and inference samples/s, timm's, the classical ones'
predict time, and the features.

    .venv/bin/python -m pytest benchmarks/test_bench_estimators.py --benchmark-only

Each benchmark puts its throughput in ``extra_info["samples_per_second"]`` (JSON output).
"""

from __future__ import annotations

import pytest
import torch

from gazebench.testing import make_toy_eyes
from gazebench_plugins.estimators.features import grid_feature, hog_feature, raw_pixels
from gazebench_plugins.estimators.nets import GazeCNN, TimmGazeNet

N_TRAIN, N_TEST = 1000, 200


@pytest.fixture(scope="module")
def data():
    return make_toy_eyes(N_TRAIN, stream=1), make_toy_eyes(N_TEST, stream=2, wild=True)


def _train_step(net: torch.nn.Module, batch_size: int, precision: str):
    # the training step of neural.TorchEstimator: channels-last weights, optional bf16 autocast
    net = net.to(memory_format=torch.channels_last).train()
    x, pose, y = torch.randn(batch_size, 1, 36, 60), torch.zeros(batch_size, 2), torch.randn(batch_size, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = net(x, pose)
        loss = 0.5 * ((out.float() - y) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _nets():
    return {"cnn": lambda: GazeCNN((36, 60), head_pose=True),
            "timm-resnet18": lambda: TimmGazeNet("resnet18", head_pose=True)}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("batch_size", [64, 512])
@pytest.mark.parametrize("net", ["cnn", "timm-resnet18"])
def test_train_samples_per_second(benchmark, net, batch_size, precision):
    step = _train_step(_nets()[net](), batch_size, precision)
    benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["samples_per_second"] = batch_size / benchmark.stats.stats.median


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("net", ["cnn", "timm-resnet18"])
def test_inference_samples_per_second(benchmark, net, precision):
    model = _nets()[net]().to(memory_format=torch.channels_last).eval()
    x, pose = torch.randn(512, 1, 36, 60), torch.zeros(512, 2)

    def infer():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            return model(x, pose)

    benchmark.pedantic(infer, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["samples_per_second"] = 512 / benchmark.stats.stats.median


@pytest.mark.parametrize("name", ["svr", "alr", "rf", "knn"])
def test_classical_predict(benchmark, data, name):
    from gazebench.plugins import create

    train, test = data
    est = create("estimator", name, seed=0).fit(train)
    batch = test.without_labels()
    benchmark.pedantic(est.predict, args=(batch,), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["samples_per_second"] = len(batch) / benchmark.stats.stats.median


@pytest.mark.parametrize("feature", ["raw", "grid15", "hog"])
def test_feature_extraction(benchmark, data, feature):
    fn = {"raw": raw_pixels, "grid15": grid_feature, "hog": hog_feature}[feature]
    images = data[0].images
    benchmark.pedantic(fn, args=(images,), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["samples_per_second"] = len(images) / benchmark.stats.stats.median
