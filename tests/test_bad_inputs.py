"""Bad inputs end in one line naming the option and the fix, before any work (issue: every bad
input a clear error). Each case here failed before (a traceback, a lost record, or a silent run)."""

import json
import os

import pytest
from click.testing import CliRunner

from gazebench.api import Dataset, Purifier
from gazebench.checks import CheckError, MemoryBudget
from gazebench.cli import cli
from gazebench.plugins import hookimpl
from gazebench.results import finish_record
from gazebench.types import TensorEyeData

TOY = ["-p", "identity", "-e", "mean", "--train", "toy", "--test", "toy-wild", "--n-train", "30", "--n-test", "8"]


@pytest.fixture
def runner(pm):
    return CliRunner()


def _one_line_error(res, *needles):
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    assert "loading" not in res.output  # failed before any work
    for n in needles:
        assert n in res.output, res.output


def test_out_is_an_existing_folder_the_record_goes_inside(runner, tmp_path):
    res = runner.invoke(cli, ["run", *TOY, "--out", str(tmp_path), "--no-cache"])
    assert res.exit_code == 0, res.output
    (rec,) = tmp_path.glob("run-*.json")
    assert json.loads(rec.read_text())["rows"][0]["estimator"] == "mean"


def test_out_under_a_file_fails_before_any_work(runner, tmp_path):
    (tmp_path / "f").write_text("x")
    res = runner.invoke(cli, ["run", *TOY, "--out", str(tmp_path / "f" / "r.json")])
    _one_line_error(res, "--out", "is a file")


@pytest.mark.parametrize("how", ["option", "env"])
def test_cache_folder_that_is_a_file(runner, tmp_path, monkeypatch, how):
    f = tmp_path / "cachefile"
    f.write_text("x")
    if how == "option":
        res = runner.invoke(cli, ["run", *TOY, "--cache-dir", str(f), "--out", str(tmp_path / "r.json")])
        _one_line_error(res, "--cache-dir", "is a file")
    else:
        monkeypatch.setenv("GAZEBENCH_CACHE", str(f))
        res = runner.invoke(cli, ["run", *TOY, "--out", str(tmp_path / "r.json")])
        _one_line_error(res, "GAZEBENCH_CACHE", "is a file")
    assert not (tmp_path / "r.json").exists()


def test_plots_an_existing_file(runner, tmp_path):
    (tmp_path / "p.png").write_text("x")
    res = runner.invoke(cli, ["run", *TOY, "--plots", str(tmp_path / "p.png"), "--out", str(tmp_path / "r.json")])
    _one_line_error(res, "--plots", "is a file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_out_folder(runner, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        res = runner.invoke(cli, ["run", *TOY, "--out", str(ro / "r.json")])
        _one_line_error(res, "--out", "not writable")
    finally:
        ro.chmod(0o700)


def test_a_finished_record_is_never_lost(pm, tmp_path, monkeypatch):
    import gazebench.checks as checks

    monkeypatch.setattr(checks, "fallback_path", lambda name: tmp_path / "spare" / name)
    (tmp_path / "f").write_text("x")
    record = {"schema": "gazebench.run/1", "started": "2026-11-27T00:00:00+00:00", "environment": {}, "rows": [1]}
    with pytest.raises(CheckError, match="it was saved to"):
        finish_record(record, tmp_path / "f" / "r.json", "run", pm)
    (spare,) = (tmp_path / "spare").glob("run-*.json")
    assert json.loads(spare.read_text())["rows"] == [1]


@pytest.mark.parametrize("args, needle", [
    (["--n-test", "-5"], "--n-test"),
    (["--seed", str(2**64 + 1)], "--seed"),
    (["--size", "4x60"], "at least 8x8"),
    (["--device", "gpu"], "expected auto, cpu"),
    (["-o", "epochs=5"], "COMPONENT.PARAM=VALUE"),
])
def test_bad_option_values_are_usage_errors(runner, args, needle):
    res = runner.invoke(cli, ["run", *TOY, *args])
    assert res.exit_code == 2 and needle in res.output and "Traceback" not in res.output, res.output


def test_unknown_segmenter_names_are_errors_before_work(runner, tmp_path):
    for opt in ("--pupil-segmenter", "--masks"):
        res = runner.invoke(cli, ["run", *TOY, opt, "bogus", "--out", str(tmp_path / "r.json")])
        _one_line_error(res, "bogus")


def test_a_size_that_cannot_fit_in_memory_is_refused_before_reading(runner, tmp_path):
    res = runner.invoke(cli, ["run", *TOY[:-4], "--n-train", "1000", "--n-test", "200", "--size", "4096x4096",
                              "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 1 and "GB of working memory" in res.output and "--size" in res.output, res.output


def test_memory_budget_known_answer():
    budget = MemoryBudget(fraction=1.0, available=10 * 3 * 100 * 100 * 10)  # exactly ten 100x100 RGB images
    budget.reserve(10, (100, 100), "ten")
    with pytest.raises(CheckError, match="one more"):
        budget.reserve(1, (100, 100), "one more")


def test_speed_repeats_zero_is_a_usage_error(runner):
    res = runner.invoke(cli, ["speed", "-p", "identity", "--repeats", "0", "--resolutions", "16", "--device", "cpu"])
    assert res.exit_code == 2 and "--repeats" in res.output


class FloatPurifier(Purifier):
    """Breaks the contract: returns float32."""

    def __init__(self) -> None:
        pass

    def purify(self, batch):
        return batch.images.float()


class OnlyUnlabelled(Dataset):
    """A user's own real eyes: one unlabelled split (what --content is for)."""

    splits = ("unlabelled",)
    labelled = False

    def __init__(self) -> None:
        pass

    def load(self, split="unlabelled", *, root=None, size=None, limit=None, seed=0):
        from gazebench.testing import make_toy_eyes

        b = make_toy_eyes(limit or 12, tuple(size or (36, 60)), stream=5, wild=True).without_labels()
        return TensorEyeData(b, {"name": "mine", "split": split})


class Fits(Purifier):
    """Records what it was fitted on."""

    needs_fit = True
    seen = 0

    def __init__(self) -> None:
        pass

    def fit(self, content, style):
        type(self).seen = len(content)
        return self

    def purify(self, batch):
        return batch.images.clone()


@pytest.fixture
def extra_components(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_purifiers(self, register):
            register("floaty", FloatPurifier)
            register("fits", Fits)

        @hookimpl
        def gazebench_register_datasets(self, register):
            register("mine", OnlyUnlabelled)

    pm.register(Plugin(), "bad-input-test-plugin")
    return pm


def test_purifier_contract_checked_by_speed(extra_components):
    from gazebench.speed import SpeedConfig, measure

    (row,) = measure(SpeedConfig(purifiers=["floaty"], resolutions=[16], device="cpu", repeats=1, batch=1,
                                 dataset="toy-wild"), pm=extra_components, log=lambda m: None)
    assert row["seconds_per_image"] is None and "expected uint8" in row["error"]


def test_content_option_fits_purifiers_on_a_users_own_unlabelled_set(extra_components, tmp_path):
    from gazebench.runner import RunConfig, run

    Fits.seen = 0
    rec = run(RunConfig(train="toy", test="toy-wild", purifiers=["fits"], content="mine", n_train=30, n_test=8,
                        n_unlabelled=7, cache=False, out=str(tmp_path / "r.json")), pm=extra_components,
              log=lambda m: None)
    assert Fits.seen == 7 and rec["datasets"]["unlabelled"]["name"] == "mine"


def test_purifier_contract_checked_by_purify(extra_components, tmp_path):
    from gazebench_plugins.purifiers.commands import purify

    res = CliRunner().invoke(purify, ["-p", "floaty", "-d", "toy-wild", "--style", "toy", "-n", "4",
                                      "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "purifier 'floaty' returned torch.float32" in res.output, res.output
    assert "Traceback" not in res.output


def test_purify_out_is_a_file(extra_components, tmp_path):
    from gazebench_plugins.purifiers.commands import purify

    (tmp_path / "o").write_text("x")
    res = CliRunner().invoke(purify, ["-p", "identity", "-d", "toy-wild", "--style", "toy", "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "--out" in res.output and "is a file" in res.output, res.output


@pytest.mark.parametrize("opt, needle", [
    ("toy.n_train=abc", "expects an int"),
    ("mean.nope=1", "has no parameter 'nope'"),
    ("meen.k=5", "no component is named 'meen'"),
])
def test_bad_o_values_fail_before_any_work(runner, tmp_path, opt, needle):
    res = runner.invoke(cli, ["run", *TOY, "-o", opt, "--out", str(tmp_path / "r.json")])
    _one_line_error(res, needle)


def test_param_ranges_refuse_impossible_numbers_before_any_work(pm):
    from gazebench.params import check_params
    from gazebench.plugins import ComponentParameterError

    class Iterates(Purifier):
        param_ranges = {"iterations": (1, None), "mix": (0.0, 1.0)}

        def __init__(self, iterations: int = 10, mix: float = 0.5) -> None:
            self.iterations, self.mix = iterations, mix

        def purify(self, batch):
            return batch.images.clone()

    check_params(Iterates, {"iterations": 1, "mix": 1.0}, kind="purifier", name="it")
    with pytest.raises(ComponentParameterError, match=r"-o it.iterations=-5: purifier 'it' takes iterations at least 1"):
        check_params(Iterates, {"iterations": -5}, kind="purifier", name="it")
    with pytest.raises(ComponentParameterError, match=r"takes mix in \[0.0, 1.0\]"):
        check_params(Iterates, {"mix": 1.5}, kind="purifier", name="it")


def test_attention_iterations_below_one_is_refused_before_any_work(runner, tmp_path):
    res = runner.invoke(cli, ["run", "-p", "attention", *TOY[2:], "-o", "attention.iterations=-5",
                              "--out", str(tmp_path / "r.json")])
    _one_line_error(res, "-o attention.iterations=-5", "at least 1")


def test_resume_with_fewer_iterations_than_the_checkpoint_is_refused(tmp_path):
    from gazebench_plugins.purifiers.feedforward import AttentionPurifier
    from gazebench.testing import make_toy_eyes

    tiny = dict(AttentionPurifier.test_params, checkpoint=str(tmp_path / "c.ckpt"), checkpoint_every=1)
    content = make_toy_eyes(4, (36, 60), stream=1, wild=True, channels=3).without_labels()
    style = make_toy_eyes(4, (36, 60), stream=2, channels=3)
    AttentionPurifier(**{**tiny, "iterations": 3}).fit(content, style)
    with pytest.raises(ValueError, match="holds 3 iterations, more than the 2 asked for"):
        AttentionPurifier(**{**tiny, "iterations": 2}).fit(content, style)
