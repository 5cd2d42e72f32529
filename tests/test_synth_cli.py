"""The renderer through the command line: plugin listing, `gazebench render`, default `run` data."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from conftest import run_cli
from gazebench.cli import cli
from gazebench_plugins.synth.cli import render_command


def test_listed_lazily_and_render_registered_through_the_entry_point():
    res = run_cli("plugins", "--json")
    assert res.returncode == 0, res.stderr
    listing = json.loads(res.stdout)
    rows = listing if isinstance(listing, list) else listing.get("components", [])
    found = {r["name"]: r for r in rows if r.get("kind") == "dataset" and r["name"] in ("synth", "synth-wild")}
    assert set(found) == {"synth", "synth-wild"}
    assert found["synth-wild"]["target"] == "gazebench_plugins.synth.dataset:SynthEyesWild"
    res = run_cli("render", "--help")
    assert res.returncode == 0 and "labelled image grid" in res.stdout and "--arrows" in res.stdout


def test_render_writes_a_labelled_grid(tmp_path):
    runner = CliRunner()
    out = tmp_path / "grid.png"
    res = runner.invoke(render_command, ["synth", "-n", "10", "--size", "36x60", "--out", str(out),
                                         "--masks", "--arrows", "--cols", "5", "--zoom", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "10 samples of synth/train at 36x60" in res.output
    img = Image.open(out)
    # 5 x 2 tiles of 120 x 72 px, 4 px gutters, 14 px captions
    assert img.size == (5 * 124 + 4, 2 * (72 + 14 + 4) + 4)
    pixels = img.convert("RGB").load()
    assert pixels[0, 0] == (24, 24, 24)  # gutter
    # the same samples with another split and a wild parameter: a different picture
    out2 = tmp_path / "wild.png"
    res = runner.invoke(render_command, ["synth-wild", "-n", "4", "--size", "64x64", "--split", "test",
                                         "-o", "synth-wild.severity=2", "--out", str(out2)])
    assert res.exit_code == 0, res.output
    assert Image.open(out2).size == (4 * (3 * 64 + 4) + 4, 3 * 64 + 14 + 8)  # zoom 3 for 64 px wide tiles


def test_render_bad_input_is_a_one_line_error(tmp_path):
    runner = CliRunner()
    res = runner.invoke(render_command, ["nope", "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 1 and "unknown dataset 'nope'" in res.output
    res = runner.invoke(render_command, ["synth", "--size", "36by60", "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 2 and "expected HxW" in res.output
    res = runner.invoke(render_command, ["synth", "--out", str(tmp_path / "g.jpg")])
    assert res.exit_code == 2 and "name it *.png" in res.output
    res = runner.invoke(render_command, ["synth", "--split", "val", "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 1 and "has no split 'val'" in res.output
    res = runner.invoke(render_command, ["synth-wild", "-o", "synth-wild.severity=9", "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 1 and "severity must lie in [0, 3]" in res.output
    assert not list(tmp_path.iterdir()), "a failed render left a file behind"


def test_run_defaults_to_synth_and_fills_the_oracle(pm, tmp_path):
    out = tmp_path / "run.json"
    res = CliRunner().invoke(cli, ["run", "-p", "identity", "-e", "mean", "--n-train", "60", "--n-test", "20",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = json.loads(out.read_text())
    assert rec["datasets"]["test"]["name"] == "synth-wild" and rec["datasets"]["test"]["style"] == "wild"
    assert "synth" in json.dumps(rec["datasets"]["train"]) and rec["datasets"]["oracle"]["name"] == "synth"
    (row,) = rec["rows"]
    # identity purifier, mean estimator: every column is the same mean-gaze error, oracle included
    assert row["oracle_mean_deg"] is not None
    assert row["oracle_mean_deg"] == row["raw_mean_deg"] == row["purified_mean_deg"]
    assert 8 < row["raw_mean_deg"] < 30
