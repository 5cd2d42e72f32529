"""Speed knobs (dtype, channels_last, compile) reach every network purifier, FLOPs are counted
right, and `gazebench speed` times Gatys on VGG-19 with the distance to the machine's limit."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from gazebench.cli import cli
from gazebench.limit import conv_flops, count_flops, probe_peak
from gazebench.testing import make_toy_eyes
from gazebench_plugins.purifiers.feedforward import AttentionPurifier, JohnsonPurifier
from gazebench_plugins.purifiers.gatys import GatysPurifier
from gazebench_plugins.purifiers.losses import get_loss_network

FAST = dict(loss_net="efficientnet_lite0", loss_weights="random", progress=False)
TINY = dict(width=4, n_residual=1, batch_size=2, warmup=2, iterations=1, **FAST)


def _toy(n, stream, wild, size=(36, 60)):
    return make_toy_eyes(n, size, stream=stream, wild=wild, channels=3)


def _first_conv_seen(module: torch.nn.Module, call) -> dict:
    """Calls ``call()`` and reports what the network received and returned, and the layout of its
    first convolution's weights (the eval path of the nets runs fused functional convs over
    folded weights, so a hook on a Conv2d module would not fire: hook the whole net)."""
    conv = next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))
    seen = {}

    def hook(mod, args, out):
        out = next(iter(out.values())) if isinstance(out, dict) else out  # a loss net returns its layers
        seen.update(channels_last=args[0].is_contiguous(memory_format=torch.channels_last) and args[0].shape[1] > 1,
                    in_dtype=args[0].dtype, out_dtype=out.dtype)

    handle = module.register_forward_hook(hook)
    try:
        result = call()
    finally:
        handle.remove()
    return {**seen, "result": result,
            "weight_channels_last": conv.weight.is_contiguous(memory_format=torch.channels_last)}


@pytest.mark.parametrize("cls", [AttentionPurifier, JohnsonPurifier])
def test_feedforward_knobs_reach_the_net_and_stay_within_a_grey_level(tmp_path, cls):
    content, style = _toy(6, 1, True), _toy(6, 2, False)
    tiny = {**TINY, "seg_iterations": 2} if cls is AttentionPurifier else TINY  # the preset's segmenter, short
    ref = cls(**tiny).fit(content, style)
    ref.save(tmp_path / "p.pt")
    images = _toy(2, 5, True, (48, 64)).without_labels()
    if cls is JohnsonPurifier:
        images = images.replace(masks=None)
    plain = _first_conv_seen(ref.net_, lambda: ref.purify(images))
    assert not plain["channels_last"] and plain["out_dtype"] == torch.float32
    knob = cls(**tiny, dtype="bf16", channels_last=True).load(tmp_path / "p.pt")
    seen = _first_conv_seen(knob.net_, lambda: knob.purify(images))
    assert seen["channels_last"] and seen["weight_channels_last"] and seen["out_dtype"] == torch.bfloat16
    diff = (seen["result"].int() - plain["result"].int()).abs()
    # bf16 keeps 8 significant bits; through a few convs the uint8 output moves by a grey level or two
    assert seen["result"].dtype == torch.uint8 and seen["result"].shape == images.images.shape
    assert int(diff.max()) <= 3 and float(diff.float().mean()) < 0.5
    # the parameters are plain constructor parameters: what run/purify pass with -o
    assert knob.get_params()["dtype"] == "bf16" and knob.get_params()["channels_last"] is True


def test_knob_parameters_are_validated_before_any_work(pm):
    from gazebench.plugins import ComponentParameterError

    with pytest.raises(ComponentParameterError, match="dtype"):
        pm.create("purifier", "attention", dtype="int8")
    with pytest.raises(ComponentParameterError, match="channels_last"):
        pm.create("purifier", "gatys", channels_last="yes please")
    assert pm.create("purifier", "johnson", dtype="fp16", compile=True).compile is True
    with pytest.raises(ValueError, match="dtype='int8'"):
        GatysPurifier(dtype="int8")


def test_gatys_knobs_reach_a_private_copy_of_the_loss_network():
    style, raw = _toy(4, 2, False), _toy(1, 3, True)
    shared = get_loss_network("efficientnet_lite0", "random")
    g = GatysPurifier(iterations=2, n_style=4, **FAST).fit(raw, style)
    plain = g.purify(raw.without_labels())
    k = GatysPurifier(iterations=2, n_style=4, **FAST, dtype="bfloat16", channels_last=True)
    k.targets_, k.notes_ = g.targets_, g.notes_
    private = k._purify_net()
    assert private is not shared and private is k._purify_net()  # built once
    seen = _first_conv_seen(private, lambda: k.purify(raw.without_labels()))
    assert seen["channels_last"] and seen["weight_channels_last"] and seen["out_dtype"] == torch.bfloat16
    # the shared, cached network other purifiers use is untouched
    first = next(m for m in shared.modules() if isinstance(m, torch.nn.Conv2d))
    assert not first.weight.is_contiguous(memory_format=torch.channels_last) or first.weight.shape[-1] == 1
    assert seen["result"].shape == plain.shape and seen["result"].dtype == torch.uint8
    assert len(k.trace_[0]) == 2 and all(v == v for v in k.trace_[0])  # two real, finite iterations


def test_compile_knob_runs_the_compiled_net():
    """torch.compile on the tiniest Johnson net at 16 px (a few seconds to compile here): the
    output is the eager output; the compiled module is what purify ran."""
    content, style = _toy(4, 1, True, (16, 16)), _toy(4, 2, False, (16, 16))
    ref = JohnsonPurifier(**{**TINY, "width": 2}).fit(content.replace(masks=None), style)
    comp = JohnsonPurifier(**{**TINY, "width": 2}, compile=True)
    comp.net_, comp.regions_, comp.train_size_ = ref.net_, [], None
    x = content.without_labels().replace(masks=None)
    out = comp.purify(x)
    assert type(comp._inference_net()).__name__ == "OptimizedModule"
    assert int((out.int() - ref.purify(x).int()).abs().max()) <= 1


def test_flop_count_of_a_known_convolution():
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    w = torch.randn(4, 3, 3, 3)
    fwd = count_flops(lambda: torch.nn.functional.conv2d(x.detach(), w, padding=1))
    assert fwd == conv_flops(1, 3, 4, 8, 8, 3) == 2 * 4 * 8 * 8 * 3 * 9 == 13824
    # backward to the input costs a second convolution of the same size
    both = count_flops(lambda: torch.nn.functional.conv2d(x, w, padding=1).sum().backward())
    assert both == 2 * 13824
    assert count_flops(lambda: torch.randn(64, 32) @ torch.randn(32, 16)) == 2 * 64 * 32 * 16


def test_fused_onednn_convolutions_count_as_their_convolutions():
    """The reformulated nets run oneDNN's fused conv + ReLU/add ops in fp32 inference; the counter
    has no formula of its own for them (it counted the Johnson net at 256 px as 0.53 GFLOP instead
    of 4.66). Known answers, and a whole net: the fused eval path counts what the plain one does."""
    import warnings

    if not hasattr(torch.ops.mkldnn, "_convolution_pointwise"):
        pytest.skip("this torch build has no oneDNN fused convolution ops")
    from gazebench_plugins.purifiers.nets import JohnsonTransformNet

    x, w, b, other = torch.randn(1, 16, 12, 12), torch.randn(8, 16, 3, 3), torch.zeros(8), torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        relu = count_flops(lambda: torch.ops.mkldnn._convolution_pointwise(
            x, w, b, [1, 1], [1, 1], [1, 1], 1, "relu", [], ""))
        add = count_flops(lambda: torch.ops.mkldnn._convolution_pointwise.binary(
            x, other, w, b, [0, 0], [1, 1], [1, 1], 1, "add", None, None, [], ""))
        assert relu == conv_flops(1, 16, 8, 12, 12, 3) and add == conv_flops(1, 16, 8, 10, 10, 3)
        net, img = JohnsonTransformNet(width=4, n_residual=1).eval(), torch.rand(1, 3, 32, 32) * 255
        fused = count_flops(lambda: net(img))
        with warnings.catch_warnings():  # toggling oneDNN warns about TF32 on Intel GPUs
            warnings.simplefilter("ignore", UserWarning)
            with torch.backends.mkldnn.flags(enabled=False):  # the plain F.conv2d path
                plain = count_flops(lambda: net(img))
    assert fused == plain > 0


def test_peak_probe_reports_both_probes():
    p = probe_peak("cpu", "float32", repeats=1)
    assert p["matmul"] > 0 and p["conv"] > 0 and p["peak"] == max(p["matmul"], p["conv"])


def test_speed_cli_times_gatys_on_vgg19_with_limits_and_knob_rows(pm, tmp_path, monkeypatch):
    import gazebench.limit

    # small probes: this test checks the plumbing, not the machine
    monkeypatch.setitem(gazebench.limit._PROBE_SIZES, "cpu", dict(n=256, batch=1, channels=32, px=32))
    out = tmp_path / "speed.json"
    res = CliRunner().invoke(cli, [
        "speed", "-p", "gatys,johnson", "--resolutions", "16", "--repeats", "1", "--batch", "2",
        "--timed-iterations", "1,6", "--device", "cpu", "--channels-last", "--dtype", "bf16",
        "-o", "johnson.width=4", "-o", "johnson.n_residual=1", "-o", "johnson.loss_weights=random",
        "-o", "johnson.loss_net=efficientnet_lite0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["rows"]
    gatys = [r for r in rows if r["purifier"] == "gatys"]
    # the paper's loss network first (the speed-up baseline), the run's own second; each in fp32
    # eager and in the knob setting
    assert [(r["variant"].split(" ")[0], r["setting"]) for r in gatys] == [
        ("VGG-19,", "fp32 eager"), ("VGG-19,", "bf16 + channels_last"),
        ("run's", "fp32 eager"), ("run's", "bf16 + channels_last")]
    assert gatys[0]["primary"] and "vgg19, RANDOM" in " ".join(gatys[0]["notes"])
    assert gatys[0]["seconds_per_image"] is None or gatys[0]["speedup_vs_gatys"] == pytest.approx(1.0)
    # VGG-19 at 16 px: about 101.5 GFLOP per iteration at 256 px / 256, forward + backward
    per_it = gatys[0]["gflop_per_image"] / 400
    assert 0.2 < per_it < 0.8 and gatys[2]["gflop_per_image"] < gatys[0]["gflop_per_image"] / 10
    for r in rows:
        assert r["gflop_per_image"] > 0 and r["peak_gflops"] > 0
        assert len(r["peak_probes"]) == 2  # before and after the one timed round
        if r["error"] is not None:
            # one repeat of a few iterations at 16 px on a shared machine: a projection may be refused
            assert r["projected"] and r["error"].startswith("timing too noisy to project"), r
            continue
        assert 0 < r["fraction_of_peak"]
        assert r["gflops"] == pytest.approx(r["gflop_per_image"] / r["seconds_per_image"])
        if r["setting"] == "fp32 eager":
            assert r["max_error"] is None and "speedup_over_reference" not in r
        else:
            assert r["max_error"] >= 0 and r["mean_error"] >= 0 and r["speedup_over_reference"] > 0
    john = [r for r in rows if r["purifier"] == "johnson"]
    assert set(john[0]["batch_images_per_second"]) == {"1", "2"} and john[0]["batch"] in (1, 2)
    assert john[1]["max_error"] <= 3
    md = CliRunner().invoke(cli, ["report", str(out), "--table", "limit"]).output
    assert "| method | px | GFLOP/image | GFLOP/s | peak GFLOP/s | of peak |" in md
    assert "| johnson, bf16 + channels_last | 16 |" in md


def test_settings_are_the_reference_then_each_distinct_knob_setting():
    from gazebench.speed import SpeedConfig, parse_setting, settings

    assert parse_setting("bf16+channels-last") == {"dtype": "bfloat16", "channels_last": True, "compile": False}
    with pytest.raises(ValueError, match="'int8' is not"):
        parse_setting("int8")
    cfg = SpeedConfig(settings=["channels_last", "bfloat16+channels_last", "fp32"], dtype="bf16", channels_last=True)
    assert [s["setting"] for s in settings(cfg)] == ["fp32 eager", "channels_last", "bf16 + channels_last"]
    assert [s["setting"] for s in settings(SpeedConfig())] == ["fp32 eager"]
    bad = CliRunner().invoke(cli, ["speed", "-p", "identity", "--setting", "turbo", "--device", "cpu"])
    assert bad.exit_code == 2 and "'turbo' is not" in bad.output


def test_refresh_tables_rewrites_only_the_generated_block(tmp_path):
    """benchmarks/refresh_tables.py: the block under a report command becomes what it prints now."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("refresh_tables", root / "benchmarks" / "refresh_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    record = {"schema": "gazebench.speed/1", "config": {}, "rows": [
        {"purifier": "fast", "resolution": 16, "device": "cpu", "seconds_per_image": 0.5, "projected": False}]}
    rec = tmp_path / "s.json"
    rec.write_text(json.dumps(record))
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n\n`gazebench report {rec} --table table1`:\n\n{mod.BEGIN}\nstale table\n{mod.END}\n\nafter\n")
    assert mod.refresh(doc) == 1
    text = doc.read_text()
    assert "stale" not in text and "| fast | 0.5 |" in text and text.endswith(f"{mod.END}\n\nafter\n")
    assert text.startswith("intro\n")


def _low_precision_module():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "low_precision", Path(__file__).resolve().parents[1] / "benchmarks" / "low_precision.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_low_precision_benchmark_runs_and_its_bf16_path_is_the_same_net(tmp_path):
    """benchmarks/low_precision.py: every primitive and precision timed, and the attention net's
    bf16-weights path (the exact eval path with weights cast once) within a grey level of fp32."""
    mod = _low_precision_module()
    out = tmp_path / "lp.md"
    # a small probe: at the records' 2048^2, bf16 matmul alone took minutes on an AVX2-only CPU
    text = mod.main(["--rounds", "1", "--sizes", "24", "--probe-n", "256", "--probe-px", "16", "--out", str(out)])
    assert "primitives probed at {'n': 256, 'px': 16}" in text
    assert out.read_text().strip() == text.strip()
    rows = [ln for ln in text.splitlines() if ln.startswith("| conv") or ln.startswith("| matmul")]
    assert len(rows) == 6 and all(float(r.split("|")[5]) > 0 for r in rows)  # GFLOP/s column
    net_row = next(ln for ln in text.splitlines() if ln.startswith("| 24 |"))
    max_err, mean_err = (float(v) for v in net_row.split("|")[7].split("/"))
    assert max_err <= 2.0 and mean_err < 0.5
    # the patched fusability check is restored afterwards
    from gazebench_plugins.purifiers import nets

    assert nets._fusable(torch.zeros(1, dtype=torch.bfloat16)) is False


def test_low_precision_cast_keeps_structure():
    mod = _low_precision_module()
    d = {"a": (torch.ones(2), 3, [torch.zeros(1, dtype=torch.int64)])}
    c = mod._cast(d, torch.bfloat16)
    assert c["a"][0].dtype == torch.bfloat16 and c["a"][1] == 3 and c["a"][2][0].dtype == torch.int64
    assert isinstance(c["a"], tuple) and isinstance(c["a"][2], list)
