"""Forward passes of the transformation networks and the loss networks at 256x256, batch 1
(the paper's Table 1 resolution), eager, no autograd; and one training step of each network.

    .venv/bin/python -m pytest benchmarks/test_bench_purifiers.py --benchmark-only

Networks at the paper's width (32): ``attention`` (four residual blocks, RGB + 1 mask channel)
and ``johnson`` (five). Loss networks: VGG-19 and VGG-16 (random weights: the cost does not
depend on the values) up to relu5_3 / relu5_1, and EfficientNet-Lite0 (the offline fallback) up
to block4. ``extra_info["gflop"]`` gives each network's multiply-adds x 2 where counted.
"""

from __future__ import annotations

import pytest
import torch

from gazebench_plugins.purifiers.losses import get_loss_network, paper_layers
from gazebench_plugins.purifiers.nets import AttentionTransformNet, JohnsonTransformNet
from gazebench_plugins.purifiers.objective import RegionObjective

SIZE = 256


def _flops(net: torch.nn.Module, *args: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(*args)
    return counter.get_total_flops() / 1e9


@pytest.mark.parametrize("name", ["attention", "johnson"])
def test_transform_net_forward_256(benchmark, name):
    net = (AttentionTransformNet(1, 32, 16) if name == "attention" else JohnsonTransformNet(32)).eval()
    x = torch.rand(1, 3, SIZE, SIZE) * 255
    args = (x, torch.zeros(1, 1, SIZE, SIZE)) if name == "attention" else (x,)
    benchmark.extra_info["gflop"] = _flops(net, *args)

    def run():
        with torch.no_grad():
            return net(*args)

    out = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert out.shape == x.shape


@pytest.mark.parametrize("arch,weights,role", [("vgg19", "random", "local_style"),
                                               ("vgg16", "random", "johnson_style"),
                                               ("efficientnet_lite0", None, "local_style")])
def test_loss_network_forward_256(benchmark, arch, weights, role):
    net = get_loss_network(arch, weights)
    layers = paper_layers(net.arch, role)
    x = torch.rand(1, 3, SIZE, SIZE) * 255
    benchmark.extra_info["gflop"] = _flops(lambda t: net(t, layers), x)
    benchmark.extra_info["weights"] = net.notes[0]

    def run():
        with torch.no_grad():
            return net(x, layers)

    feats = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert set(feats) == set(layers)


def test_attention_training_step_36x60(benchmark):
    """One CPU-preset training step (batch 4, width 16, 36x60) on the region-level objective."""
    net = AttentionTransformNet(1, 16, 8).train()
    loss_net = get_loss_network("efficientnet_lite0")
    obj = RegionObjective(loss_net)
    x = torch.rand(4, 3, 36, 60) * 255
    lab = torch.zeros(4, 36, 60, dtype=torch.uint8)
    lab[:, 12:24, 24:36] = 2
    targets = obj.mean_targets(obj.style_targets(x, lab))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    masks = (lab >= 2).float()[:, None]

    def step():
        loss, _ = obj(net(x, masks), x, lab, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=10, iterations=1, warmup_rounds=1)
