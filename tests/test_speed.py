"""`gazebench speed`: projection arithmetic, rows, failed sizes, and the CLI end to end."""

import json

import pytest
import torch
from click.testing import CliRunner

from gazebench.api import Purifier
from gazebench.cli import cli
from gazebench.plugins import hookimpl
from gazebench.speed import SpeedConfig, measure, project, time_call, time_interleaved


def test_projection_known_answer():
    # 1 s fixed + 0.5 s per iteration: 2 its -> 2 s, 4 its -> 3 s, 400 its -> 201 s
    assert project(2.0, 3.0, 2, 4, 400) == pytest.approx(201.0)


def test_time_call_counts_runs():
    calls = []
    times = time_call(lambda: calls.append(1), repeats=3, warmup=2, sync=lambda: None)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_interleaved_timing_alternates_and_probes_between_rounds():
    calls = []
    times = time_interleaved([lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, warmup=1,
                             sync=lambda: None, between=lambda: calls.append("|"))
    # warm-up round, a probe, then rounds in alternating order each followed by a probe
    assert "".join(calls) == "ab|ab|ba|ab|" and [len(t) for t in times] == [3, 3]


class Iterative(Purifier):
    """Optimisation-based test purifier: cost grows with iterations."""

    iteration_param = "iterations"

    def __init__(self, iterations: int = 10) -> None:
        self.iterations = iterations

    def purify(self, batch):
        x = batch.images.float()
        for _ in range(self.iterations):
            x = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
        return x.round().clamp(0, 255).to(torch.uint8)


class FailsLarge(Purifier):
    """Raises CUDA's out-of-memory message above 20 px."""

    def __init__(self) -> None:
        pass

    def purify(self, batch):
        if batch.size[0] > 20:
            raise RuntimeError("CUDA out of memory. Tried to allocate 9 GiB")
        return batch.images.clone()


@pytest.fixture
def speed_plugins(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_purifiers(self, register):
            register("iter-test", Iterative)
            register("fails-large", FailsLarge)

    pm.register(Plugin(), "speed-test-plugins")
    return pm


def test_measure_rows(speed_plugins):
    cfg = SpeedConfig(purifiers=["identity", "iter-test", "fails-large"], resolutions=[16, 24], device="cpu",
                      repeats=2, warmup=1, batch=2, iterations=50, timed_iterations=(1, 300), baselines=["identity"],
                      probe=False)
    rows = measure(cfg, pm=speed_plugins, log=lambda m: None)
    assert [(r["purifier"], r["resolution"]) for r in rows] == [
        ("identity", 16), ("identity", 24), ("iter-test", 16), ("iter-test", 24), ("fails-large", 16), ("fails-large", 24)]
    ident, it, fail = rows[0], rows[2], rows[5]
    # which batch wins is a timing outcome (an identity copy at 16 px is noise-dominated: CI once measured
    # batch 1 faster), so assert the rule, not the winner: both batches timed, the row reports the best
    per_batch = ident["batch_images_per_second"]
    assert ident["projected"] is False and sorted(per_batch) == ["1", "2"] and all(v > 0 for v in per_batch.values())
    assert ident["batch"] == int(max(per_batch, key=per_batch.get))
    assert ident["images_per_second"] == max(per_batch.values())
    assert ident["speedup_vs_identity"] == pytest.approx(1.0)
    assert it["projected"] is True and it["iterations"] == 50 and it["timed_iterations"] == [1, 300]
    assert it["error"] is None and it["seconds_per_iteration"] > 0
    assert fail["error"] == "out of memory" and fail["seconds_per_image"] is None and fail["speedup_vs_identity"] is None
    assert rows[4]["error"] is None


class NeedsFit(Purifier):
    """Refuses to purify before fit; fit is slow unless timing_params make it short."""

    needs_fit = True
    timing_params = {"steps": 1}

    def __init__(self, steps: int = 10_000) -> None:
        self.steps = steps

    def fit(self, content, style):
        assert self.steps == 1, "speed must fit with timing_params"
        self.fitted_ = True
        return self

    def purify(self, batch):
        if not getattr(self, "fitted_", False):
            raise ValueError("not fitted")
        return batch.images.clone()


def test_fitted_purifier_timed_after_a_minimal_fit(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_purifiers(self, register):
            register("needs-fit", NeedsFit)

    pm.register(Plugin(), "needs-fit-plugin")
    (row,) = measure(SpeedConfig(purifiers=["needs-fit"], resolutions=[16], device="cpu", repeats=1, batch=1,
                                 probe=False),
                     pm=pm, log=lambda m: None)
    assert row["error"] is None and row["seconds_per_image"] > 0 and row["projected"] is False


def test_unsupported_option_is_a_row_not_a_silent_change(speed_plugins):
    cfg = SpeedConfig(purifiers=["identity"], resolutions=[16], device="cpu", repeats=1, dtype="float16",
                      probe=False)
    ref, row = measure(cfg, pm=speed_plugins, log=lambda m: None)
    assert ref["setting"] == "fp32 eager" and ref["error"] is None and ref["seconds_per_image"] > 0
    assert row["setting"] == "fp16" and row["method"] == "identity, fp16"
    assert row["error"] == "purifier does not take dtype" and row["seconds_per_image"] is None


def test_speed_cli_writes_record_and_report(pm, tmp_path):
    out = tmp_path / "speed.json"
    res = CliRunner().invoke(cli, ["speed", "-p", "identity", "--resolutions", "16,32", "--repeats", "1",
                                   "--device", "cpu", "--no-probe", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    assert rec["schema"] == "gazebench.speed/1" and [r["resolution"] for r in rec["rows"]] == [16, 32]
    md = CliRunner().invoke(cli, ["report", str(out)]).output
    assert "| method | 16x16 | 32x32 |" in md and "| identity |" in md
    bad = CliRunner().invoke(cli, ["speed", "--resolutions", "4", "--device", "cpu"])
    assert bad.exit_code == 2 and "at least 8" in bad.output


def test_noisy_projection_is_an_error_row(speed_plugins, monkeypatch):
    import gazebench.speed as speed_mod

    # 12 iterations "faster" than 2: cannot be projected
    monkeypatch.setattr(speed_mod, "time_interleaved", lambda fns, **kw: [[2.0], [1.0]])
    cfg = SpeedConfig(purifiers=["iter-test"], resolutions=[16], device="cpu", repeats=1, probe=False)
    (row,) = measure(cfg, pm=speed_plugins, log=lambda m: None)
    assert row["seconds_per_image"] is None and "timing too noisy to project" in row["error"]
