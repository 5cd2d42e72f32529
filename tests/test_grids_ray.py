"""The same toy grid on the local executor and on a local Ray instance (2 CPUs, started and
stopped here): the rows agree, and a second Ray run finds every task in the cache."""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gazebench.cli import cli

ray = pytest.importorskip("ray", reason='Ray cannot be installed here (pip install "gazebench[ray]")')

GRID = """
train = "toy"
test = "toy-wild"
estimators = ["mean", "knn"]
purifiers = ["identity", "reinhard"]
seeds = [0, 1]
n_train = 60
n_test = 20
n_unlabelled = 20
device = "cpu"
"""
TIMING = {"fit_seconds", "fit_cached", "purify_cached", "purify_seconds_per_image", "predict_seconds_per_image"}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _run(args):
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli, ["run", *args])
    assert res.exit_code == 0, res.output
    return time.perf_counter() - t0


def _record(path: Path):
    return json.loads(path.read_text())


def test_ray_gives_the_local_rows_and_a_second_run_finds_every_task(local_ray, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    local_s = _run(["--config", str(grid), "--cache-dir", str(tmp_path / "local"), "--out", str(tmp_path / "l.json")])
    ray_s = _run(["--config", str(grid), "--executor", "ray", "--cache-dir", str(tmp_path / "ray"),
                  "--out", str(tmp_path / "r.json")])
    local, first = _record(tmp_path / "l.json"), _record(tmp_path / "r.json")
    assert len(first["rows"]) == 8  # 2 estimators x 2 purifiers x 2 seeds
    assert first["rows"] == local["rows"]  # rows carry no timings: equal outright

    def untimed(stats):
        return [{k: v for k, v in s.items() if k not in TIMING} for s in stats]

    assert untimed(first["purifiers"]) == untimed(local["purifiers"])
    assert untimed(first["estimators"]) == untimed(local["estimators"])
    tasks = first["tasks"]
    assert tasks["executor"] == "ray" and tasks["cached"] == 0 and tasks["keyed"] == 12
    # every keyed task ran in a Ray worker; only the pupil steps ran on the driver
    assert {t["kind"] for t in tasks["list"] if t["where"] == "driver"} == {"pupil"}

    again_s = _run(["--config", str(grid), "--executor", "ray", "--cache-dir", str(tmp_path / "ray"),
                    "--out", str(tmp_path / "r2.json")])
    again = _record(tmp_path / "r2.json")
    assert again["rows"] == local["rows"]
    assert again["tasks"]["cached"] == again["tasks"]["keyed"] == 12
    assert all(t["where"] == "driver" for t in again["tasks"]["list"])  # nothing was sent to Ray
    print(f"\ntoy grid wall time: local {local_s:.1f} s, ray {ray_s:.1f} s, ray again (cached) {again_s:.1f} s")


def test_ray_refuses_no_cache_and_reports_worker_errors_in_one_line(local_ray, tmp_path):
    res = CliRunner().invoke(cli, ["run", "--executor", "ray", "--no-cache", "--train", "toy", "--test", "toy-wild"])
    assert res.exit_code == 1 and "drop --no-cache" in res.output
    # a value the constructor accepts but the fit cannot use: the worker's error, on one line
    res = CliRunner().invoke(cli, ["run", "--executor", "ray", "--train", "toy", "--test", "toy-wild", "-e", "svr",
                                   "-p", "identity", "--n-train", "5", "--n-test", "5", "-o", "svr.gamma=bogus",
                                   "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 1, res.output
    line = res.output.strip().splitlines()[-1]  # the log lines come before it on stderr
    assert line.startswith("Error: task fit svr [toy seed 0] failed on Ray: estimator 'svr' could not be fitted: "
                           "The 'gamma' parameter"), res.output
    assert line.endswith("(options given: svr.gamma='bogus')"), res.output
