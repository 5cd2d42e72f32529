"""Rendering speed of the embedded renderer (pytest-benchmark; never asserted).

    .venv/bin/pytest benchmarks/test_bench_render.py --benchmark-only

The headline figure is ``test_render_10k[synth-36x60]``: 10,000 36x60 crops through the public
dataset API (latents, render, labels), as ``gazebench run`` reads them.
"""

from __future__ import annotations

import pytest

from gazebench_plugins.synth.dataset import SynthEyes, SynthEyesWild


@pytest.mark.parametrize("cls,size", [(SynthEyes, (36, 60)), (SynthEyesWild, (36, 60))],
                         ids=["synth-36x60", "synth-wild-36x60"])
def test_render_10k(benchmark, cls, size):
    data = cls().load("train", size=size, limit=10_000)
    data.batch(range(64))  # warm-up: first-call allocations
    batch = benchmark.pedantic(data.take, rounds=3, iterations=1)
    assert len(batch) == 10_000


@pytest.mark.parametrize("cls,size", [(SynthEyes, (256, 256)), (SynthEyesWild, (256, 256))],
                         ids=["synth-256", "synth-wild-256"])
def test_render_purifier_size(benchmark, cls, size):
    data = cls().load("train", size=size, limit=100)
    data.batch(range(2))
    batch = benchmark.pedantic(data.take, rounds=3, iterations=1)
    assert len(batch) == 100
