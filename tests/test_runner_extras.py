"""Pupil shift, plots and `gazebench compare`."""

import json

import pytest
import torch
from click.testing import CliRunner

from gazebench.api import Purifier, Segmenter
from gazebench.cli import cli
from gazebench.cli.compare_cmd import compare_rows
from conftest import builtin_plugin_manager
from gazebench.plugins import hookimpl
from gazebench.metrics import pupil_centres, pupil_centroids
from gazebench.runner import RunConfig, run

SMALL = dict(train="toy", test="toy-wild", n_train=60, n_test=12, n_unlabelled=12, cache=False)


def test_pupil_centroids_known_answer():
    labels = torch.zeros(2, 5, 6, dtype=torch.uint8)
    labels[0, 1:3, 2:4] = 3  # a 2x2 pupil at x 2..3, y 1..2
    c = pupil_centroids(labels)
    assert c[0].tolist() == [2.5, 1.5]
    assert torch.isnan(c[1]).all()


class DarkestSegmenter(Segmenter):
    """Pupil = pixels darker than 60 (enough on toy eyes)."""

    def __init__(self) -> None:
        pass

    def segment(self, images):
        gray = images.float().mean(1)
        return (gray < 60).to(torch.uint8) * 3


class ShiftRight(Purifier):
    """Moves the image 2 px right (a purifier that breaks the gaze label)."""

    def __init__(self) -> None:
        pass

    def purify(self, batch):
        out = batch.images.clone()
        out[..., 2:] = batch.images[..., :-2]
        return out


class ExtrasPlugin:
    @hookimpl
    def gazebench_register_segmenters(self, register):
        register("darkest", DarkestSegmenter)

    @hookimpl
    def gazebench_register_purifiers(self, register):
        register("shift-right", ShiftRight)


@pytest.fixture
def extras(builtin_pm):
    # only the built-ins are loaded: an installed plugin named `extras`, or one registering
    # `darkest`, cannot take these tests' components away
    builtin_pm.register(ExtrasPlugin(), "extras")
    return builtin_pm


def test_extras_are_immune_to_an_installed_extras_plugin(tmp_path, monkeypatch):
    from gazebench import plugins as plugins_mod
    from test_plugins import write_dist

    write_dist(tmp_path, "gazebench-extras", "1.0", "gb_extras_clash", """
        from gazebench.plugins import hookimpl

        @hookimpl
        def gazebench_register_segmenters(register):
            register("darkest", "gazebench_plugins.segmenters.threshold:ThresholdSegmenter")
        """, "extras")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "extras" in plugins_mod.PluginManager(strict=False).plugins  # the clash is really installed
    try:
        manager = builtin_plugin_manager(monkeypatch)  # what the `extras` fixture starts from
        manager.register(ExtrasPlugin(), "extras")
        assert manager.plugins["extras"].distribution is None  # ours, in process
        assert manager.spec("segmenter", "darkest").target is DarkestSegmenter
        assert manager.spec("purifier", "shift-right").target is ShiftRight
    finally:
        plugins_mod.reset_plugin_manager()


def test_pupil_shift_measures_a_moved_pupil(extras, tmp_path):
    rec = run(RunConfig(**SMALL, purifiers=["identity", "shift-right"], pupil_segmenter="darkest",
                        out=str(tmp_path / "r.json")), pm=extras, log=lambda m: None)
    shifts = {r["purifier"]: r["pupil_shift_px"] for r in rec["rows"]}
    assert shifts["identity"] == 0.0
    assert shifts["shift-right"] == pytest.approx(2.0, abs=0.05)
    assert [p["pupil_found"] for p in rec["purifiers"] if p["purifier"] == "shift-right"] == [1.0]


def test_auto_pupil_shift_uses_the_test_masks(extras, tmp_path):
    rec = run(RunConfig(**SMALL, purifiers=["identity", "shift-right"], out=str(tmp_path / "r.json")),
              pm=extras, log=lambda m: None)
    shifts = {r["purifier"]: r["pupil_shift_px"] for r in rec["rows"]}
    assert shifts["identity"] == 0.0 and shifts["shift-right"] == pytest.approx(2.0, abs=0.3)
    assert "iris masks" in " ".join(rec["notes"])


def test_pupil_centres_follow_a_translation():
    from gazebench.testing import make_toy_eyes

    b = make_toy_eyes(6)
    c = pupil_centres(b.images, b.masks)
    moved = pupil_centres(torch.roll(b.images, 1, dims=3), b.masks)
    assert torch.allclose(moved[:, 0] - c[:, 0], torch.ones(6, dtype=torch.float64), atol=0.15)
    assert torch.allclose(c, b.pupil.double(), atol=0.5)


def test_unknown_pupil_segmenter_is_an_error_before_any_work(extras, tmp_path):
    from gazebench.plugins import UnknownComponentError

    with pytest.raises(UnknownComponentError, match="nope"):
        run(RunConfig(**SMALL, pupil_segmenter="nope", out=str(tmp_path / "r.json")), pm=extras, log=lambda m: None)
    assert not (tmp_path / "r.json").exists()


def test_plots_are_written(extras, tmp_path):
    rec = run(RunConfig(**SMALL, purifiers=["identity", "shift-right"], pupil_segmenter=None,
                        plots=str(tmp_path / "plots"), out=str(tmp_path / "r.json")), pm=extras, log=lambda m: None)
    for p in rec["plots"]:
        data = open(p, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_compare_rows_and_cli(tmp_path):
    a = {"schema": "gazebench.run/1", "rows": [
        {"estimator": "e", "train": "s", "test": "w", "purifier": "p", "raw_mean_deg": 10.0, "purified_mean_deg": 8.0},
        {"estimator": "e", "train": "s", "test": "w", "purifier": "q", "raw_mean_deg": 10.0, "purified_mean_deg": 9.0}]}
    b = {"schema": "gazebench.run/1", "rows": [
        {"estimator": "e", "train": "s", "test": "w", "purifier": "p", "raw_mean_deg": 10.5, "purified_mean_deg": 7.0}]}
    rows = compare_rows(a, b)
    assert rows[0]["purified_mean_deg"] == (8.0, 7.0, -1.0)
    assert rows[1]["raw_mean_deg"] == (10.0, None, None)
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    res = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert res.exit_code == 0 and "-1.00" in res.output and "+0.50" in res.output
    (tmp_path / "s.json").write_text(json.dumps({"schema": "gazebench.speed/1", "rows": []}))
    res = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.json"), str(tmp_path / "s.json")])
    assert res.exit_code == 1 and "compare reads gazebench.run/1" in res.output


def test_best_segmenter_prefers_priority(extras):
    from gazebench.stages import Segmenters

    class Better(DarkestSegmenter):
        priority = 50

    class Plugin:
        @hookimpl
        def gazebench_register_segmenters(self, register):
            register("zz-better", Better)

    extras.register(Plugin(), "better")
    assert Segmenters(extras, {}, "cpu", print).best() == "zz-better"


def test_masks_landmarks_is_the_datasets_own_masks(extras, tmp_path):
    class NeedsMasks(ShiftRight):
        needs_masks = True

    class Plugin:
        @hookimpl
        def gazebench_register_purifiers(self, register):
            register("needs-masks", NeedsMasks)

    extras.register(Plugin(), "needs-masks-plugin")
    rec = run(RunConfig(**SMALL, purifiers=["needs-masks"], masks="landmarks", out=str(tmp_path / "r.json")),
              pm=extras, log=lambda m: None)
    assert rec["config"]["masks_from"] == "dataset"
    # said where every figure is read: a rendered stand-in's own masks are its ground truth
    assert any(n.startswith("masks: the purifiers read the test and content sets' own masks") and "--masks unet" in n
               for n in rec["notes"])
