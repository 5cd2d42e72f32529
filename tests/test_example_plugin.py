"""The third-party example package is found through its entry point, listed, and usable in a run."""

import json
import shutil
from pathlib import Path

from conftest import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "gazebench-example"


def install_example(site: Path) -> None:
    """What `pip install` leaves behind, built by hand: the package and its .dist-info."""
    import tomllib

    cfg = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    shutil.copytree(EXAMPLE / "gazebench_example", site / "gazebench_example")
    info = site / f"gazebench_example-{cfg['project']['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {cfg['project']['name']}\nVersion: {cfg['project']['version']}\n")
    eps = cfg["project"]["entry-points"]["gazebench"]
    (info / "entry_points.txt").write_text("[gazebench]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))


def test_example_plugin_listed_and_used(tmp_path):
    install_example(tmp_path / "site")
    env = {"PYTHONPATH": str(tmp_path / "site")}
    out = run_cli("plugins", "--json", env=env)
    assert out.returncode == 0, out.stderr
    rows = [r for r in json.loads(out.stdout) if r["name"] == "equalize"]
    assert rows == [{"kind": "purifier", "name": "equalize", "plugin": "example",
                     "distribution": "gazebench-example", "version": "0.1.0",
                     "summary": "Per-image histogram equalisation (example third-party plugin).",
                     "target": "gazebench_example.equalize:EqualizePurifier", "broken": False, "meta": {},
                     "conflict": None}]
    rec = tmp_path / "run.json"
    out = run_cli("run", "-p", "identity,equalize", "-e", "mean", "--train", "toy", "--test", "toy-wild",
                  "--n-train", "100", "--n-test", "20", "--out", str(rec), env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(rec.read_text())["rows"]
    assert [r["purifier"] for r in rows] == ["identity", "equalize"]
    plugins = {p["name"]: p for p in json.loads(rec.read_text())["environment"]["plugins"]}
    assert plugins["example"]["distribution"] == "gazebench-example"


def test_example_purifier_conforms_and_equalizes():
    import sys

    import torch

    sys.path.insert(0, str(EXAMPLE))
    try:
        from gazebench_example.equalize import EqualizePurifier, equalize
    finally:
        sys.path.remove(str(EXAMPLE))
    from gazebench.testing import check_purifier

    assert equalize(torch.tensor([[[[10, 10], [20, 30]]]], dtype=torch.uint8)).flatten().tolist() == [0, 0, 128, 255]
    assert check_purifier(EqualizePurifier)
