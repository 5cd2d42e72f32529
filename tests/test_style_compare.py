"""`gazebench style-compare` (the paper's Fig. 4) on tiny settings."""

import json

from click.testing import CliRunner

from gazebench_plugins.purifiers.stylecompare import equivalent_iterations, style_compare

TINY = "iterations=2,warmup=1,width=4,n_residual=1,batch_size=2,loss_weights=random,loss_net=efficientnet_lite0,progress=false"


def test_equivalent_iterations_known_answer():
    trace = [10.0, 7.0, 5.0, 4.0]
    assert equivalent_iterations(trace, 7.5) == 2
    assert equivalent_iterations(trace, 4.0) == 4
    assert equivalent_iterations(trace, 1.0) is None
    assert equivalent_iterations(trace, 99.0) == 1


def test_style_compare_end_to_end(pm, tmp_path):
    sets = []
    for name in ("attention", "johnson"):
        sets += [f"-o{name}.{kv}" for kv in TINY.split(",")]
    sets += ["-ogatys.loss_weights=random", "-ogatys.loss_net=efficientnet_lite0", "-oattention.seg_iterations=2"]
    out = tmp_path / "fig4.json"
    res = CliRunner().invoke(style_compare, ["--sizes", "24", "-n", "2", "--n-style", "2", "--iterations", "3",
                                             "--device", "cpu", *sets, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    assert json.loads(res.stdout) == rec  # --json prints what --out writes
    (row,) = rec["rows"]
    assert row["resolution"] == 24 and row["n_images"] == 2 and row["iterations"] == 3
    for name in ("attention", "johnson", "raw", "oracle"):
        assert row[f"{name}_objective"] > 0
        assert all(e is None or 1 <= e <= 3 for e in row[f"{name}_equals_iterations"])
    assert rec["purifiers"] == ["attention", "johnson"]
    assert row["oracle_objective"] != row["raw_objective"]  # the wild eye is not its clean render


def test_style_compare_oracle_is_the_paired_render(pm, tmp_path):
    """With every wild effect off, synth-wild is its paired synth render byte for byte: the
    oracle row must then score exactly what the raw row scores."""
    sets = [f"-oattention.{kv}" for kv in TINY.split(",")]
    sets += ["-ogatys.loss_weights=random", "-ogatys.loss_net=efficientnet_lite0", "-osynth-wild.effects=none",
             "-oattention.seg_iterations=2"]
    res = CliRunner().invoke(style_compare, ["-p", "attention", "--sizes", "24", "-n", "2", "--n-style", "2",
                                             "--iterations", "2", "--device", "cpu", *sets, "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)["rows"]
    assert row["oracle_objective"] == row["raw_objective"] > 0
    assert row["oracle_equals_iterations"] == row["raw_equals_iterations"]
