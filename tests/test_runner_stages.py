"""The run in stages: same numbers as before the split, plugin knowledge out of the core, the kit."""

import ast
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gazebench.api import Purifier, Segmenter
from gazebench.cli import cli
from gazebench.cli import options
from gazebench.defaults import default_component, default_data
from gazebench.plugins import PluginManager, hookimpl
from gazebench.runner import RunConfig, run

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden_toy_rows.json"


def _close(a, b, rel=1e-6, abs_=1e-9):
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=rel, abs=abs_)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel, abs_) for x, y in zip(a, b))
    return a == b


#: the CNN trains in float32 on the CPU's vector kernels, and another CPU generation rounds
#: differently: its rows here moved by 0.2-0.8% between two machines both named "Intel(R)
#: Xeon(R) Processor" (AVX-512, family 6 model 207 against the golden's), so they are held to
#: 2% and its cumulative curves to two of the 40 test eyes crossing a threshold (the
#: scikit-learn rows stay exact); its gap closed, a ratio over a 0.02 deg raw-oracle difference
#: on this toy data, is not compared
_CNN_REL, _CNN_CURVE_ABS, _CNN_SKIP = 2e-2, 2 / 40 + 1e-9, {"gap_closed"}
#: the random forest and the SVR joined them on an AMD EPYC (2026-12-06), with scikit-learn 1.9.0 and
#: 1.9.1 alike: the forest's means moved by 0.6-1.7% (raw mean 11.467 -> 11.603 deg) and the oracle's
#: median, a median of 40 eyes, by 2.9%; the SVR's figures by at most 0.23%, its curves by one eye.
#: Held to 5% and 1% and the CNN's curve tolerance; mean, ALR and k-NN stay exact there too
_MACHINE_SENSITIVE = {"cnn": _CNN_REL, "rf": 5e-2, "svr": 1e-2}


def _cnn_close(key, new, old, rel=_CNN_REL):
    return _close(new, old, 0.0, _CNN_CURVE_ABS) if key.endswith("_curve") else _close(new, old, rel, 1e-3)


def test_rows_identical_to_the_record_made_before_the_split(runner, tmp_path):
    """Table 2's rows on the toy data, as the single-function runner wrote them (tests/data)."""
    golden = json.loads(GOLDEN.read_text())["rows"]
    out = tmp_path / "r.json"
    res = runner.invoke(cli, ["run", "-p", "identity,reinhard", "-e", "mean,alr,knn,rf,svr,cnn", "--train", "toy",
                              "--test", "toy-wild", "--n-train", "120", "--n-test", "40", "--n-unlabelled", "20",
                              "-o", "cnn.epochs=2", "-o", "knn.k=5", "--no-cache", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [{k: v for k, v in r.items() if not k.startswith("pupil")} for r in json.loads(out.read_text())["rows"]]
    assert [(r["estimator"], r["purifier"]) for r in rows] == [(r["estimator"], r["purifier"]) for r in golden]
    for new, old in zip(rows, golden):
        assert set(old) <= set(new)  # gazebench.run/2 adds seed, intervals, tests: the old values stay
        rel = _MACHINE_SENSITIVE.get(old["estimator"])
        bad = [k for k in old if not (rel and k in _CNN_SKIP)
               and not (_cnn_close(k, new[k], old[k], rel) if rel else _close(new[k], old[k]))]
        assert not bad, f"{old['estimator']}/{old['purifier']}: {bad} changed"


@pytest.fixture
def runner():
    return CliRunner()


# -- plugin knowledge stays out of the core ----------------------------------------------------

def _builtin_names() -> set[str]:
    pm = PluginManager(load_entry_points=True)
    names = set()
    for p in pm.plugins.values():
        if p.distribution == "gazebench":
            names |= {spec.name for reg in pm.registries.values() for spec in reg if spec.plugin.name == p.name}
    return names


#: names that are also ordinary words: only an exact string equal to them counts
_WORDS = {"mean", "identity", "folder", "threshold", "npz"}
#: components named after the library they wrap: the core records that library's version
_LIBRARIES = {"timm"}


def _strings(tree: ast.AST):
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
        # a dict key or subscript ("mean" of a summary) is data, not a component being named
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            docs.add(id(node.slice))
        if isinstance(node, ast.Dict):
            docs.update(id(k) for k in node.keys if isinstance(k, ast.Constant))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                and node.func.attr in ("get", "pop", "setdefault") and isinstance(node.args[0], ast.Constant)):
            docs.add(id(node.args[0]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node


def test_no_core_module_names_a_builtin_component():
    names = _builtin_names()
    assert {"identity", "gatys", "johnson", "synth", "toy", "cnn"} <= names  # the check sees real names
    offenders = []
    for path in sorted((ROOT / "gazebench").rglob("*.py")):
        for node in _strings(ast.parse(path.read_text(), str(path))):
            text = node.value
            hit = text in names and text not in _LIBRARIES
            if not hit and re.fullmatch(r"[a-z0-9_\-]+", text):
                hit = bool(set(re.split(r"[_\-]", text)) & (names - _WORDS - _LIBRARIES))
            if hit:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text!r}")
    assert not offenders, "core modules naming built-in components:\n" + "\n".join(offenders)


def test_plugins_use_the_public_kit_not_cli_or_runner_internals():
    bad = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module in ("gazebench.cli.run_cmd", "gazebench.runner",
                                                                    "gazebench.stages"):
                allowed = node.module != "gazebench.cli.run_cmd" and all(
                    a.name in ("RunConfig", "run", "RunError", "format_command", "build", "open_dataset",
                               "Segmenters", "check_purified") for a in node.names)
                if not allowed:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import "
                               f"{', '.join(a.name for a in node.names)}")
    assert not bad, "\n".join(bad)


def test_one_progress_helper_and_one_device_resolver():
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        text = path.read_text()
        assert "rich.progress" not in text, f"{path}: use gazebench.progress"
        assert "torch.cuda.is_available()" not in text or path.name == "losses.py", \
            f"{path}: resolve devices with gazebench.device.resolve_device"


# -- defaults declared by components -----------------------------------------------------------

def test_defaults_come_from_the_components(pm):
    assert default_data(pm) == ("synth", "synth-wild")
    assert default_component(pm, "purifier") == "identity"
    assert default_component(pm, "estimator") == "mean"
    assert default_component(pm, "segmenter") is None


def test_defaults_fall_back_to_what_is_installed(monkeypatch):
    monkeypatch.setenv("GAZEBENCH_LOAD_PLUGINS", "basic")
    pm = PluginManager()
    assert default_data(pm) == ("toy", "toy-wild")


def test_run_config_without_names_takes_the_declared_defaults(pm, tmp_path):
    rec = run(RunConfig(train="toy", test="toy-wild", n_train=30, n_test=8, cache=False,
                        out=str(tmp_path / "r.json")), pm=pm, log=lambda m: None)
    assert rec["config"]["estimators"] == ["mean"] and rec["config"]["purifiers"] == ["identity"]
    assert [s["noop"] for s in rec["purifiers"]] == [True]


# -- stages ------------------------------------------------------------------------------------

class CountingSegmenter(Segmenter):
    """Needs fitting; counts its fits (the run must fit it once, whatever the training sets)."""

    needs_fit = True
    fits = 0

    def __init__(self) -> None:
        pass

    def fit(self, data):
        type(self).fits += 1
        return self

    def segment(self, images):
        import torch

        return (images.float().mean(1) < 60).to(torch.uint8) * 3


class MaskUser(Purifier):
    needs_masks = True

    def __init__(self) -> None:
        pass

    def purify(self, batch):
        assert batch.masks is not None
        return batch.images.clone()


def test_segmenter_fitted_once_for_masks_and_pupil_across_training_sets(pm, tmp_path):
    class Plugin:
        @hookimpl
        def gazebench_register_segmenters(self, register):
            register("counting", CountingSegmenter)

        @hookimpl
        def gazebench_register_purifiers(self, register):
            register("mask-user", MaskUser)

    pm.register(Plugin(), "stage-test-plugin")
    CountingSegmenter.fits = 0
    rec = run(RunConfig(train=["toy", "toy"], test="toy-wild", purifiers=["mask-user"], masks="counting",
                        pupil_segmenter="counting", n_train=30, n_test=8, cache=False,
                        out=str(tmp_path / "r.json")), pm=pm, log=lambda m: None)
    assert CountingSegmenter.fits == 1
    assert rec["config"]["masks_from"] == "segmenter:counting" and len(rec["rows"]) == 2
    assert not any(n.startswith("masks: the purifiers read") for n in rec["notes"])  # a segmenter's masks


def test_cached_fit_is_loaded_not_refitted(pm, tmp_path):
    cfg = dict(train="toy", test="toy-wild", estimators=["alr"], n_train=40, n_test=8, cache_dir=str(tmp_path / "c"))
    first = run(RunConfig(**cfg, out=str(tmp_path / "a.json")), pm=pm, log=lambda m: None)
    second = run(RunConfig(**cfg, out=str(tmp_path / "b.json")), pm=pm, log=lambda m: None)
    assert first["estimators"][0]["fit_cached"] is False and second["estimators"][0]["fit_cached"] is True
    assert first["rows"] == second["rows"]


# -- the options kit ---------------------------------------------------------------------------

def test_option_types_known_answers():
    assert options.SizeType().convert("36x60", None, None) == (36, 60)
    with pytest.raises(click.exceptions.BadParameter, match="at least 8x8"):
        options.SizeType().convert("4x4", None, None)
    assert options.DeviceType().convert("CUDA:1", None, None) == "cuda:1"
    with pytest.raises(click.exceptions.BadParameter, match="expected auto"):
        options.DeviceType().convert("gpu", None, None)
    assert options.parse_sets(["cnn.epochs=5", "toy.names=[1,2]", "a.b=x"]) == {
        "cnn": {"epochs": 5}, "toy": {"names": [1, 2]}, "a": {"b": "x"}}
    with pytest.raises(click.exceptions.BadParameter, match="COMPONENT.PARAM=VALUE"):
        options.parse_sets(["epochs=5"])


def test_kit_options_in_a_plugin_style_command():
    seen = {}

    @click.command()
    @options.size_option()
    @options.device_option()
    @options.set_option()
    @options.seed_option()
    def cmd(size, device, sets, seed):
        seen.update(size=size, device=device, sets=sets, seed=seed)

    res = CliRunner().invoke(cmd, ["--size", "20x30", "--device", "cpu", "-o", "x.y=1", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert seen == {"size": (20, 30), "device": "cpu", "sets": {"x": {"y": 1}}, "seed": 3}
    bad = CliRunner().invoke(cmd, ["--seed", str(2**64 + 1)])
    assert bad.exit_code == 2 and "--seed" in bad.output and "Traceback" not in bad.output


def test_a_named_segmenter_segments_the_real_side_even_where_the_dataset_has_masks():
    """--masks NAME gives test and content the segmenter's masks (what real eyes would get), while
    the style set keeps its renderer masks; auto keeps every dataset's own."""
    import torch

    from gazebench.plugins import get_plugin_manager
    from gazebench.stages import Segmenters
    from gazebench.testing import make_toy_eyes

    test = make_toy_eyes(list(range(6)), seed=1, wild=True)
    style = make_toy_eyes(list(range(6)), seed=2)
    pool = Segmenters(get_plugin_manager(), {}, "cpu", lambda m: None)
    seg = pool.get("threshold", style, "test")
    named, source = pool.fill({"test": test, "style": style}, "threshold", style)
    assert source == "segmenter:threshold"
    assert torch.equal(named["test"].masks, seg.segment(test.images).cpu())
    assert not torch.equal(named["test"].masks, test.masks)  # the toy's true masks were replaced
    assert named["style"].masks is style.masks
    auto, source = pool.fill({"test": test, "style": style}, "auto", style)
    assert source == "dataset" and auto["test"].masks is test.masks
