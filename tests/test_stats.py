"""Uncertainty: bootstrap intervals, paired tests and Holm on known answers; seeds, per-sample
errors beside the record, unique record names, compare on shared samples."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from gazebench import stats
from gazebench.cli import cli
from gazebench.results import claim_path, read_samples
from gazebench.runner import RunConfig, run


def test_constant_improvement_of_one_degree():
    rng = np.random.default_rng(1)
    raw = rng.uniform(5, 15, 200)
    pur = raw - 1.0
    assert stats.diff_ci(raw, pur) == pytest.approx([1.0, 1.0])
    assert stats.paired_test(raw, pur) < 1e-10


def test_identical_errors_are_not_tested():
    raw = np.linspace(1, 10, 50)
    assert stats.paired_test(raw, raw.copy()) is None
    row = stats.row_statistics(raw, raw.copy(), None)
    assert row["p_value"] is None and row["diff_mean_ci"] == [0.0, 0.0] and row["gap_closed_ci"] is None
    rows = [dict(row)]
    stats.correct_rows(rows)
    assert rows[0]["p_holm"] is None and rows[0]["significant"] is None


def test_mean_interval_known_answer_and_fixed_seed():
    rng = np.random.default_rng(2)
    x = rng.normal(10, 2, 400)
    lo, hi = stats.mean_ci(x)
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert lo < x.mean() < hi and (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert stats.mean_ci(x) == [lo, hi]  # same data, same interval
    assert stats.mean_ci([3.0]) is None


def test_gap_closed_interval_contains_the_point_value():
    rng = np.random.default_rng(3)
    raw = rng.uniform(8, 12, 300)
    orc = raw - 6 + rng.normal(0, 0.5, 300)
    pur = raw - 3 + rng.normal(0, 0.5, 300)
    gap = (raw.mean() - pur.mean()) / (raw.mean() - orc.mean())
    lo, hi = stats.gap_closed_ci(raw, pur, orc)
    assert lo < gap < hi and 0.4 < lo and hi < 0.6


def test_holm_known_answer():
    # sorted p 0.01, 0.02, 0.04 with m = 3: 0.03, 0.04, 0.04 (monotone), None untouched
    assert stats.holm([0.04, None, 0.01, 0.02]) == pytest.approx([0.04, None, 0.03, 0.04])


def test_per_subject_counts_improved_subjects():
    raw = np.array([5.0, 5.0, 5.0, 5.0])
    pur = np.array([4.0, 4.0, 6.0, 6.0])
    out = stats.per_subject(raw, pur, np.array([0, 0, 1, 1]))
    assert (out["subjects_improved"], out["subjects_n"]) == (1, 2)


def test_seeds_give_rows_intervals_tests_and_a_sidecar(pm, tmp_path):
    out = tmp_path / "r.json"
    rec = run(RunConfig(train="toy", test="toy-wild", purifiers=["identity", "reinhard"], estimators=["alr"],
                        n_train=80, n_test=30, seeds=[0, 1], cache=False, out=str(out)), pm=pm, log=lambda m: None)
    assert rec["schema"] == "gazebench.run/2" and [r["seed"] for r in rec["rows"]] == [0, 0, 1, 1]
    ident, rein = rec["rows"][0], rec["rows"][1]
    assert ident["p_value"] is None and ident["diff_mean_ci"] == [0.0, 0.0]
    assert rein["p_value"] is not None and rein["purified_mean_ci"][0] < rein["purified_mean_deg"] < \
        rein["purified_mean_ci"][1]
    assert {"p_holm", "significant", "gap_closed_ci", "subjects_improved"} <= set(rein)
    on_disk = json.loads(out.read_text())
    on_disk["path"] = str(out)
    arrays = read_samples(on_disk)
    i = rein["samples_index"]
    assert arrays[f"r{i}_purified"].shape == (30,)
    assert arrays[f"r{i}_raw"].mean() == pytest.approx(rein["raw_mean_deg"])
    assert arrays[f"r{i}_oracle"].mean() == pytest.approx(rein["oracle_mean_deg"])
    summary = {(s["estimator"], s["purifier"]): s for s in rec["summary"]}
    s = summary[("alr", "reinhard")]
    assert s["n_seeds"] == 2 and s["seeds"] == [0, 1]
    assert s["raw_mean_deg"] == pytest.approx(np.mean([r["raw_mean_deg"] for r in rec["rows"] if r["purifier"] == "reinhard"]))
    assert s["raw_mean_deg_seed_std"] > 0  # different seeds, different test eyes
    # a changed sidecar is refused, not silently read
    (tmp_path / "r.samples.npz").write_bytes(b"x")
    with pytest.raises(ValueError, match="does not match the sha256"):
        read_samples(on_disk)


def test_two_records_in_the_same_second_both_survive(tmp_path):
    a = claim_path(tmp_path, "run", "2026-11-27T10:00:00+00:00")
    b = claim_path(tmp_path, "run", "2026-11-27T10:00:00+00:00")
    assert a != b and a.exists() and b.exists() and b.name == "run-2026-11-27T100000+0000-2.json"


def test_runs_without_out_never_overwrite(pm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = dict(train="toy", test="toy-wild", n_train=30, n_test=8, cache=False)
    paths = {run(RunConfig(**cfg), pm=pm, log=lambda m: None)["path"] for _ in range(3)}
    assert len(paths) == 3 and all((tmp_path / p).is_file() for p in paths)


def test_compare_tests_two_records_on_shared_samples(pm, tmp_path):
    base = dict(train="toy", test="toy-wild", estimators=["alr"], n_train=80, n_test=30, cache=False)
    run(RunConfig(**base, purifiers=["identity"], out=str(tmp_path / "a.json")), pm=pm, log=lambda m: None)
    run(RunConfig(**base, purifiers=["identity"], out=str(tmp_path / "b.json")), pm=pm, log=lambda m: None)
    res = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    from gazebench.cli.compare_cmd import compare_rows

    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    a["path"], b["path"] = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    (row,) = compare_rows(a, b)
    assert row["shared"]["n"] == 30 and row["shared"]["p_value"] is None  # same run twice: nothing to test
