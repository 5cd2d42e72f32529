"""Shared benchmark settings: seeds, threads and machine facts in the JSON output."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

THREADS = int(os.environ.get("GAZEBENCH_BENCH_THREADS", os.cpu_count() or 1))


def pytest_configure(config):
    # warm-up on for every suite: first calls allocate (and compile) and must not be timed
    if hasattr(config.option, "benchmark_warmup"):
        config.option.benchmark_warmup = True


@pytest.fixture(autouse=True)
def _seeded():
    torch.set_num_threads(THREADS)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


def pytest_benchmark_update_machine_info(config, machine_info):
    from gazebench.results import device_name

    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = THREADS
    machine_info["device_name"] = device_name("cuda" if torch.cuda.is_available() else "cpu")
