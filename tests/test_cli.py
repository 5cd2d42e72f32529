"""End-to-end runs of the CLI on the tiny generated data."""

import json

import pytest
from click.testing import CliRunner

from conftest import run_cli
from gazebench.cli import cli

SMALL = ["--train", "toy", "--test", "toy-wild", "--n-train", "200", "--n-test", "50"]


@pytest.fixture
def runner(pm):
    return CliRunner()


def test_run_writes_record_and_report_renders_it(runner, tmp_path):
    out = tmp_path / "run.json"
    res = runner.invoke(cli, ["run", "-p", "identity", "-e", "mean", *SMALL, "--seed", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    assert rec["schema"] == "gazebench.run/2" and rec["seed"] == 4
    assert rec["config"]["device_resolved"] == "cpu" and rec["config"]["n_test"] == 50
    (row,) = rec["rows"]
    assert (row["estimator"], row["purifier"], row["n_test"], row["n_train"]) == ("mean", "identity", 50, 200)
    # identity purifier: purified == raw; toy-wild is paired with toy, so the oracle is filled
    assert row["purified_mean_deg"] == row["raw_mean_deg"] and row["oracle_mean_deg"] is not None
    assert 5 < row["raw_mean_deg"] < 30  # the mean predictor on +-15/25 deg pitch/yaw
    # identity moves no pupil (measured inside toy-wild's own iris masks)
    assert row["pupil_shift_px"] == 0.0
    assert rec["environment"]["torch"] and any(p["name"] == "basic" for p in rec["environment"]["plugins"])
    md = runner.invoke(cli, ["report", str(out), "--layout", "long"])
    assert md.exit_code == 0 and f"| mean | toy | toy-wild | identity | 50 | {row['raw_mean_deg']:.2f} [" in md.output
    tex = runner.invoke(cli, ["report", str(out), "--format", "latex"])
    assert "\\toprule" in tex.output


def test_run_json_and_same_seed_same_numbers(runner, tmp_path):
    a = runner.invoke(cli, ["run", *SMALL, "--json", "--out", str(tmp_path / "a.json")])
    b = runner.invoke(cli, ["run", *SMALL, "--json", "--out", str(tmp_path / "b.json")])
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert ra["rows"][0]["raw_mean_deg"] == rb["rows"][0]["raw_mean_deg"]


def test_bad_options_are_one_line_errors(runner, tmp_path):
    res = runner.invoke(cli, ["run", "-e", "nope", *SMALL])
    assert res.exit_code == 1 and "Error: unknown estimator 'nope'; available:" in res.output
    res = runner.invoke(cli, ["run", *SMALL, "--size", "36by60"])
    assert res.exit_code == 2 and "expected HxW" in res.output
    res = runner.invoke(cli, ["run", *SMALL, "-o", "novalue"])
    assert res.exit_code == 2 and "COMPONENT.PARAM=VALUE" in res.output
    res = runner.invoke(cli, ["run", *SMALL, "-o", "toy.n_trian=5"])
    assert res.exit_code == 1 and "Error: -o toy.n_trian: dataset 'toy' has no parameter 'n_trian'" in res.output
    res = runner.invoke(cli, ["run", *SMALL, "--device", "cuda:7"])
    assert res.exit_code == 1 and "CUDA is not available" in res.output
    res = runner.invoke(cli, ["report", str(tmp_path / "none.json")])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_set_option_reaches_component(runner, tmp_path):
    res = runner.invoke(cli, ["run", *SMALL[:4], "-o", "toy.n_train=30", "--n-train", "0", "--n-test", "10",
                              "--json", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"][0]["n_train"] == 30


def test_console_script_help_everywhere():
    for args in (["--help"], ["run", "--help"], ["plugins", "--help"], ["report", "--help"]):
        out = run_cli(*args)
        assert out.returncode == 0 and "Usage:" in out.stdout
    assert "Examples:" in run_cli("run", "--help").stdout


def test_cache_reuses_fitted_estimator_and_no_cache_refits(runner, tmp_path):
    args = ["run", *SMALL, "--json", "--cache-dir", str(tmp_path / "c")]
    first = json.loads(runner.invoke(cli, [*args, "--out", str(tmp_path / "1.json")]).stdout)
    second = json.loads(runner.invoke(cli, [*args, "--out", str(tmp_path / "2.json")]).stdout)
    third = json.loads(runner.invoke(cli, [*args, "--no-cache", "--out", str(tmp_path / "3.json")]).stdout)
    assert first["estimators"][0]["fit_cached"] is False
    assert second["estimators"][0]["fit_cached"] is True and second["purifiers"][0]["purify_cached"]
    assert third["estimators"][0]["fit_cached"] is False
    assert first["rows"][0]["raw_mean_deg"] == second["rows"][0]["raw_mean_deg"] == third["rows"][0]["raw_mean_deg"]
    entries = sorted(p.parent.name for p in (tmp_path / "c").rglob("*") if p.is_file())
    assert entries == ["estimators", "purified", "scores"]  # scores are cached task results too (docs/grids.md)
    # a different seed is different data: a miss
    other = json.loads(runner.invoke(cli, [*args, "--seed", "1", "--out", str(tmp_path / "4.json")]).stdout)
    assert other["estimators"][0]["fit_cached"] is False


def test_several_training_sets_give_rows_each(runner, tmp_path):
    res = runner.invoke(cli, ["run", "--train", "toy,toy-wild", "--test", "toy-wild", "--n-train", "100",
                              "--n-test", "20", "--json", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert [(r["train"], r["estimator"]) for r in rec["rows"]] == [("toy", "mean"), ("toy-wild", "mean")]
    assert sorted(rec["datasets"]["train"]) == ["toy", "toy-wild"]
    assert [e["train"] for e in rec["estimators"]] == ["toy", "toy-wild"]


def test_oracle_follows_the_test_sets_latent_parameters(runner, tmp_path):
    # only toy-wild is resized; the oracle (toy) must still index the same eyes
    res = runner.invoke(cli, ["run", "--train", "toy", "--test", "toy-wild", "-o", "toy-wild.n_test=7",
                              "--n-train", "50", "--n-test", "0", "--json", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["rows"][0]["n_test"] == 7 and rec["datasets"]["oracle"]["n"] == 7


def test_code_digest_changes_with_the_code(tmp_path, monkeypatch):
    import sys

    from gazebench.cache import code_digest

    pkg = tmp_path / "digestpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "net.py").write_text("WIDTH = 8\n")
    (pkg / "est.py").write_text("class E:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from digestpkg.est import E

    before = code_digest(E())
    (pkg / "net.py").write_text("WIDTH = 16\n")  # a sibling module changes: the digest must too
    assert code_digest(E()) != before
    sys.modules.pop("digestpkg.est", None)


def test_bad_option_value_names_the_component(runner, tmp_path):
    from gazebench.api import Estimator
    from gazebench.plugins import hookimpl

    class Strict(Estimator):
        def __init__(self, epochs=1) -> None:  # unannotated: create() cannot check it, fit() fails
            self.epochs = epochs

        def fit(self, train):
            range(self.epochs)  # raises TypeError for a string, as real training loops do
            return self

        def predict(self, batch):
            raise NotImplementedError

        def save(self, path):
            pass

        def load(self, path):
            return self

    class Plugin:
        @hookimpl
        def gazebench_register_estimators(self, register):
            register("strict", Strict)

    from gazebench.plugins import get_plugin_manager

    get_plugin_manager().register(Plugin(), "strict-plugin")
    res = runner.invoke(cli, ["run", *SMALL, "-e", "strict", "-o", "strict.epochs=abc", "--no-cache",
                              "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 1
    assert "estimator 'strict' could not be fitted" in res.output and "strict.epochs='abc'" in res.output
