"""benchmarks/gpu.sh (issue 14 item 5) and the device-side timing pieces it stands on.

The CPU parts run everywhere: the refusal without CUDA, the --dry-run smoke run of every step on
tiny sizes, synchronisation inside the timed region, autocast. The CUDA paths (device moves,
AMP, synchronised timing, cuDNN autotuning) run where CUDA exists and are skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from gazebench import device as devmod

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def _suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", ROOT / "benchmarks" / "gpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "2", "PYTHON": sys.executable, **(env or {})})


def test_time_calls_synchronises_inside_the_timed_region(monkeypatch):
    events: list[str] = []
    monkeypatch.setattr(devmod, "synchronize", lambda device: events.append("sync"))
    times = devmod.time_calls(lambda: events.append("call"), "cpu", warmup=2, repeats=3)
    # warm-up calls, one sync before the first clock start, then each timed call followed by its sync
    assert events == ["call", "call", "sync"] + ["call", "sync"] * 3
    assert len(times) == 3 and all(t >= 0 for t in times)


def test_autocast_casts_on_the_cpu_and_refuses_unknown_dtypes():
    a = torch.randn(4, 4)
    with devmod.autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with devmod.autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32
    with pytest.raises(ValueError, match="dtype='int8'"):
        with devmod.autocast("cpu", "int8"):
            pass


def test_cuda_settings_sets_and_reports_the_cudnn_autotuner():
    before = torch.backends.cudnn.benchmark
    try:
        assert devmod.cuda_settings(benchmark=True)["cudnn_benchmark"] is True
        s = devmod.cuda_settings(benchmark=False)
        assert s["cudnn_benchmark"] is False and s["torch"] == torch.__version__
        assert set(s) >= {"tf32_matmul", "tf32_cudnn", "matmul_precision", "cuda", "device_name"}
    finally:
        torch.backends.cudnn.benchmark = before


def test_device_folder_names():
    assert _suite().slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert _suite().slug("  /// ") == "device"


def test_refuses_without_cuda():
    r = _run(env={"CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 2 and "no CUDA device here" in r.stderr and "--dry-run" in r.stderr
    assert "Traceback" not in r.stderr
    r = _run("--device", "cpu")
    assert r.returncode == 2 and "only with --dry-run" in r.stderr


def _check_dry_run(out, device: str) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] is True and summary["device"] == device
    assert list(summary["steps"]) == ["table1", "attention-throughput", "purifier-fit", "cnn-throughput"]
    assert all("result" in s and "error" not in s for s in summary["steps"].values()), summary["steps"]
    t1 = summary["steps"]["table1"]["result"]
    assert {"fp32 eager", "bf16 + channels_last"} <= set(t1) and t1["records"]
    for name in t1["records"]:  # one record with both settings, or one per setting
        rows = json.loads((out / name).read_text())["rows"]
        assert {(r["purifier"], r["resolution"]) for r in rows} == {("gatys", 32), ("attention", 32), ("johnson", 32)}
        assert (out / name).with_suffix(".md").read_text().strip()
    for setting in ("fp32 eager", "bf16 + channels_last"):
        assert {r["purifier"] for r in t1[setting]} == {"gatys", "attention", "johnson"}
    tp = json.loads((out / "attention-throughput.json").read_text())
    got = {(r["net"], r["variant"], r["batch"]) for r in tp["rows"]}
    assert got == {(n, v, b) for n in ("attention", "johnson") for v in ("fp32", "bf16-channels-last") for b in (1, 2)}
    assert all(r["images_per_second"] > 0 for r in tp["rows"]) and tp["size"] == 32
    fit = json.loads((out / "purifier-fit.json").read_text())
    assert fit["steps"] == 3 and fit["params"]["preset"] == "paper" and fit["steps_per_second"] > 0
    assert math.isfinite(fit["final_loss"]) and "RANDOM" in " ".join(fit["loss_network"])
    cnn = json.loads((out / "cnn-throughput.json").read_text())
    assert [r["variant"] for r in cnn["rows"]] == ["fp32", "bf16-channels-last"] and cnn["hidden"] == 16
    assert all(r["train_samples_per_second"] > 0 and r["inference_samples_per_second"] > 0 for r in cnn["rows"])
    readme = (out / "README.md").read_text()
    assert "Dry run" in readme and "steps/s" in readme and "| attention/fp32 |" in readme
    return summary


def test_dry_run_runs_every_step_on_tiny_sizes(tmp_path):
    r = _run("--dry-run", "--out", str(tmp_path / "gpu"))
    assert r.returncode == 0, r.stderr[-3000:]
    _check_dry_run(tmp_path / "gpu", "cpu")


@CUDA
def test_time_calls_and_autocast_on_cuda():
    x = torch.randn(2048, 2048, device="cuda")
    times = devmod.time_calls(lambda: x @ x, "cuda", warmup=1, repeats=3)
    assert len(times) == 3 and all(t > 0 for t in times)
    with devmod.autocast("cuda", "bf16"):
        assert (x @ x).dtype == torch.bfloat16
    with devmod.autocast("cuda", "fp16"):
        assert (x @ x).dtype == torch.float16


@CUDA
def test_dry_run_on_cuda_moves_everything_to_the_gpu(tmp_path):
    r = _run("--dry-run", "--device", "cuda", "--out", str(tmp_path / "gpu"))
    assert r.returncode == 0, r.stderr[-3000:]
    summary = _check_dry_run(tmp_path / "gpu", "cuda")
    env = summary["environment"]
    assert env["cudnn_benchmark"] is True and env["device_name"] == torch.cuda.get_device_name()
