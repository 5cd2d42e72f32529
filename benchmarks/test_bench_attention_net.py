"""The attention net against Johnson's at equal width (16, the CPU preset), 256x256, batch 1,
eval, no autograd: the reformulated forward and the original layer-by-layer forward
(``reference_*_forward`` in tests/test_nets_fast.py) on the same weights.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest benchmarks/test_bench_attention_net.py --benchmark-only

``extra_info["gflop"]`` is the original network's count (FlopCounterMode); the per-stage breakdown
and the machine's peak are in ``benchmarks/attention_net.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from gazebench_plugins.purifiers.nets import AttentionTransformNet, JohnsonTransformNet

SIZE, WIDTH = 256, 16
_spec = importlib.util.spec_from_file_location(
    "_nets_reference", Path(__file__).resolve().parents[1] / "tests" / "test_nets_fast.py")
_ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ref)


@pytest.mark.parametrize("forward", ["reformulated", "reference"])
@pytest.mark.parametrize("name", ["attention", "johnson"])
def test_attention_vs_johnson_forward_256(benchmark, name, forward):
    x = torch.rand(1, 3, SIZE, SIZE) * 255
    m = (torch.rand(1, 1, SIZE, SIZE) > 0.5).float()
    if name == "attention":
        net = _ref._randomised(AttentionTransformNet(1, WIDTH, WIDTH // 2)).eval()
        fn = (lambda: net(x, m)) if forward == "reformulated" else (lambda: _ref.reference_attention_forward(net, x, m))
    else:
        net = _ref._randomised(JohnsonTransformNet(WIDTH)).eval()
        fn = (lambda: net(x)) if forward == "reformulated" else (lambda: _ref.reference_johnson_forward(net, x))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        expected = (_ref.reference_attention_forward(net, x, m) if name == "attention"
                    else _ref.reference_johnson_forward(net, x))
    benchmark.extra_info["gflop"] = counter.get_total_flops() / 1e9

    def run():
        with torch.no_grad():
            return fn()

    out = benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=2)
    assert float((out - expected).abs().max()) < 1e-3
