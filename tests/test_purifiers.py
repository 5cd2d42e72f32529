"""Purifiers: the networks' layer structure (section 3.3, eq. 7-9), the objectives' semantics
(eq. 10-20), training with checkpoints and exact resume, Reinhard and projected L-BFGS known
behaviour, and the paired evaluation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from gazebench_plugins.purifiers.losses import get_loss_network, region_maps
from gazebench.testing import make_toy_eyes
from gazebench_plugins.purifiers.evaluate import paired_metrics, pupil_centres
from gazebench_plugins.purifiers.feedforward import AttentionPurifier, JohnsonPurifier
from gazebench_plugins.purifiers.gatys import GatysPurifier
from gazebench_plugins.purifiers.nets import (AttentionTransformNet, JohnsonResidualBlock, JohnsonTransformNet,
                                              PaperResidualBlock)
from gazebench_plugins.purifiers.objective import RegionObjective
from gazebench_plugins.purifiers.reinhard import ReinhardPurifier

FAST = dict(loss_net="efficientnet_lite0", loss_weights="random", progress=False)
#: the cpu preset fits a segmenter for its consistency term (seg_weight): 2 steps here
TINY = dict(width=4, n_residual=1, batch_size=2, warmup=3, seg_iterations=2, **FAST)
JOHNSON_TINY = {k: v for k, v in TINY.items() if not k.startswith("seg_")}


def _convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def test_attention_net_structure():
    net = AttentionTransformNet(mask_channels=2, width=8, mask_width=4)
    assert net.full[1].kernel_size == (9, 9) and net.mask[1].kernel_size == (9, 9)
    assert net.mask[1].in_channels == 2 and net.out[1].kernel_size == (9, 9) and net.out[1].out_channels == 3
    for block in net.down:  # 3x3 stride 2, padding 0 on a reflection-padded input, then BN + ReLU
        conv = block[1]
        assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (2, 2), (0, 0))
        assert isinstance(block[0], nn.ReflectionPad2d)
        assert isinstance(block[2], nn.BatchNorm2d) and isinstance(block[3], nn.ReLU)
    for up in net.up:  # 4x4 transposed, stride 2, padding 1 (Odena et al.), then BN + ReLU
        assert (up[0].kernel_size, up[0].stride, up[0].padding) == ((4, 4), (2, 2), (1, 1))
        assert isinstance(up[1], nn.BatchNorm2d) and isinstance(up[2], nn.ReLU)
    blocks = list(net.body)
    assert len(blocks) == 4 and all(isinstance(b, PaperResidualBlock) for b in blocks)
    order = [type(m).__name__ for m in blocks[0].body if not isinstance(m, nn.ReflectionPad2d)]
    assert order == ["Conv2d", "BatchNorm2d", "ReLU", "Dropout2d", "BatchNorm2d", "Conv2d"]  # Fig. 3
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.ReLU)) for m in net.out)  # only the scaled tanh


def test_johnson_net_structure():
    net = JohnsonTransformNet(width=8)
    blocks = list(net.body)
    assert len(blocks) == 5 and all(isinstance(b, JohnsonResidualBlock) for b in blocks)
    convs = _convs(net)
    assert convs[0].kernel_size == (9, 9) and convs[-1].kernel_size == (9, 9)
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) for c in convs if isinstance(c, nn.ConvTranspose2d))


@pytest.mark.parametrize("size", [(36, 60), (35, 55), (13, 21)])
def test_nets_keep_any_size_and_range(size):
    torch.manual_seed(0)
    x = torch.rand(2, 3, *size) * 255
    m = torch.rand(2, 1, *size).round()
    for net, args in ((AttentionTransformNet(1, 4, 2, n_residual=1), (x, m)), (JohnsonTransformNet(4, 1), (x,))):
        net.eval().requires_grad_(False)
        y = net(*args)
        assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 255
        with torch.no_grad():  # a huge output bias saturates the scaled tanh at 255
            net.out[1].bias.fill_(1e3)
        assert torch.allclose(net(*args), torch.full_like(x, 255.0))


def test_attention_streams_follow_eq_9():
    # train mode runs the layer modules (eval mode runs their exact reformulation: test_nets_fast.py)
    net = AttentionTransformNet(mask_channels=1, width=4, mask_width=2).train()
    seen = {}
    net.full.register_forward_hook(lambda m, i, o: seen.__setitem__("full", o))
    net.mask.register_forward_hook(lambda m, i, o: seen.__setitem__("mask", o))
    net.down[0][2].register_forward_hook(lambda m, i, o: seen.__setitem__("down0", i[0]))
    x, m = torch.rand(1, 3, 16, 24) * 255, torch.zeros(1, 1, 16, 24)
    net(x, m)
    joint = torch.cat([seen["full"], seen["mask"]], 1)
    att = net.last_attention
    assert att.shape == (1, 1, 16, 24) and float(att.min()) > 0 and float(att.max()) < 1
    # f_attention = [f_full, f_mask] * att+, f_background = [f_full, f_mask] * (1 - att+) (eq. 8-9)
    streams = torch.cat([seen["full"], joint * att, joint * (1 - att)], 1)
    assert torch.allclose(seen["down0"], net.down[0][1](net.down[0][0](streams)), atol=1e-5)


def _square_eye(value: float) -> tuple[torch.Tensor, torch.Tensor]:
    img = torch.full((1, 3, 32, 32), 180.0)
    img[..., 8:24, 8:24] = value
    lab = torch.zeros(1, 32, 32, dtype=torch.uint8)
    lab[:, 8:24, 8:24] = 2
    return img, lab


def test_region_objective_semantics():
    net = get_loss_network("vgg16", "random")
    obj = RegionObjective(net, layers={"local_style": ("relu1_1",), "global_style": ("relu1_2",)})
    img, lab = _square_eye(40.0)
    targets = obj.style_targets(img, lab)
    total, parts = obj(img, img, lab, targets)
    # output = content = style with the same regions: only the TV term is left
    assert parts["content"] == pytest.approx(0, abs=1e-6) and parts["style"] == pytest.approx(0, abs=1e-4)
    assert parts["total"] == pytest.approx(parts["tv"], rel=1e-5)
    # changing the style image deep inside its attention region changes only the attention targets:
    # skin is styled from skin, iris from iris, never mixed
    other, _ = _square_eye(40.0)
    other[..., 12:20, 12:20] = 200.0
    t2 = obj.style_targets(other, lab)
    assert torch.allclose(t2["bkgd:relu1_2"], targets["bkgd:relu1_2"])
    assert not torch.allclose(t2["att:relu1_1"], targets["att:relu1_1"])
    # the output is masked by the *input's* regions: a style image with its region elsewhere
    # gives the same targets when its texture is the same
    moved = torch.roll(img, 4, dims=3)
    t3 = obj.style_targets(moved, torch.roll(lab, 4, dims=2))
    assert torch.allclose(t3["att:relu1_1"], targets["att:relu1_1"], atol=1e-5)


def _toy(n, stream, wild):
    return make_toy_eyes(n, (36, 60), stream=stream, wild=wild, channels=3)


def test_attention_trains_checkpoints_and_resumes_exactly(tmp_path):
    content, style = _toy(12, 1, True).without_labels(), _toy(12, 2, False)
    kw = TINY
    ckpt = tmp_path / "run.ckpt"
    first = AttentionPurifier(iterations=4, checkpoint=str(ckpt), checkpoint_every=2, **kw).fit(content, style)
    assert ckpt.is_file() and len(first.history_) == 4
    resumed = AttentionPurifier(iterations=6, checkpoint=str(ckpt), **kw).fit(content, style)
    assert resumed.fit_info_["resumed_from"] == 4 and len(resumed.history_) == 6
    straight = AttentionPurifier(iterations=6, **kw).fit(content, style)
    assert resumed.history_ == pytest.approx(straight.history_, rel=1e-5)
    for a, b in zip(resumed.net_.state_dict().values(), straight.net_.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)
    with pytest.raises(ValueError, match="another configuration"):
        AttentionPurifier(iterations=6, checkpoint=str(ckpt), **{**kw, "width": 8}).fit(content, style)
    notes = straight.record_notes()
    assert "RANDOM" in notes[0] and "6 Adam iterations" in notes[1]


def test_cosine_schedule_known_values_and_exact_resume(tmp_path):
    from gazebench_plugins.purifiers.feedforward import scheduled_lr

    assert scheduled_lr(1e-3, "constant", 7, 10) == 1e-3
    assert scheduled_lr(1e-3, "cosine", 0, 10) == pytest.approx(1e-3)
    assert scheduled_lr(1e-3, "cosine", 5, 10) == pytest.approx(5e-4)  # half way: half the rate
    assert scheduled_lr(1e-3, "cosine", 9, 10) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(0.9 * math.pi)))
    content, style = _toy(12, 1, True).without_labels(), _toy(12, 2, False)
    kw = {**TINY, "lr_schedule": "cosine", "lr": 1e-2}
    ckpt = tmp_path / "cos.ckpt"
    AttentionPurifier(iterations=4, checkpoint=str(ckpt), checkpoint_every=2, **kw).fit(content, style)
    # the run's length is part of a decaying schedule: a 4-step checkpoint is not a 6-step run's
    with pytest.raises(ValueError, match="another configuration"):
        AttentionPurifier(iterations=6, checkpoint=str(ckpt), **kw).fit(content, style)
    a = AttentionPurifier(iterations=6, checkpoint=str(tmp_path / "c6.ckpt"), checkpoint_every=3, **kw)
    a.fit(content, style)
    resumed = AttentionPurifier(iterations=6, checkpoint=str(tmp_path / "c6.ckpt"), **kw)
    # a fresh object on a finished checkpoint resumes at step 6 and does nothing more
    resumed.fit(content, style)
    assert resumed.fit_info_["resumed_from"] == 6
    straight = AttentionPurifier(iterations=6, **kw).fit(content, style)
    const = AttentionPurifier(iterations=6, **{**kw, "lr_schedule": "constant"}).fit(content, style)
    assert a.history_ == pytest.approx(straight.history_, rel=1e-5)
    assert straight.history_[:1] == pytest.approx(const.history_[:1], rel=1e-6)  # same first step
    assert straight.history_[-1] != pytest.approx(const.history_[-1], rel=1e-4)  # then other rates
    assert "cosine decay" in straight.record_notes()[1]
    with pytest.raises(ValueError, match="lr_schedule='linear'"):
        AttentionPurifier(lr_schedule="linear").resolved()


def test_ema_averages_the_trajectory_by_its_recurrence_and_resumes_exactly(tmp_path):
    from gazebench_plugins.purifiers.feedforward import _ema_update, ema_decay

    assert ema_decay(0.99, 0) == pytest.approx(0.1) and ema_decay(0.99, 8) == pytest.approx(0.5)
    assert ema_decay(0.9, 1000) == 0.9 and ema_decay(0.0, 5) == 0.0
    lin = torch.nn.Linear(1, 1)
    avg = {"weight": torch.tensor([[2.0]]), "bias": torch.tensor([0.0])}
    with torch.no_grad():
        lin.weight.fill_(4.0), lin.bias.fill_(1.0)
    _ema_update(avg, lin, 0.75)
    assert avg["weight"].item() == pytest.approx(2.5) and avg["bias"].item() == pytest.approx(0.25)

    content, style = _toy(12, 1, True).without_labels(), _toy(12, 2, False)
    kw = {**TINY, "lr": 1e-2}
    d = 0.2  # below the early-step cap from step 1 on: every step's own decay counts
    # the last iterates w1..w3 of one deterministic trajectory (same seed: same warm start and draws)
    w = {k: AttentionPurifier(iterations=k, **kw).fit(content, style).net_.state_dict() for k in (1, 2, 3)}
    avg1 = AttentionPurifier(iterations=1, ema=d, **kw).fit(content, style).net_.state_dict()
    c = [ema_decay(d, i) for i in range(3)]
    assert c == pytest.approx([0.1, 0.18181818, 0.2])
    floats = [k for k, v in avg1.items() if v.is_floating_point()]
    # the warm start's weights w0, from avg1 = c0 w0 + (1 - c0) w1; then the recurrence predicts avg3
    w0 = {k: (avg1[k] - (1 - c[0]) * w[1][k]) / c[0] for k in floats}
    pred = {k: w0[k] for k in floats}
    for i in range(3):
        pred = {k: c[i] * pred[k] + (1 - c[i]) * w[i + 1][k] for k in floats}
    avg3 = AttentionPurifier(iterations=3, ema=d, **kw).fit(content, style)
    for k in floats:
        assert torch.allclose(avg3.net_.state_dict()[k], pred[k], atol=1e-4), k
    assert not torch.allclose(avg3.net_.state_dict()[floats[0]], w[3][floats[0]])  # not the last iterate
    # a checkpoint carries the average: 2 steps, then resumed to 3, is the straight 3-step fit
    ckpt = tmp_path / "ema.ckpt"
    AttentionPurifier(iterations=2, ema=d, checkpoint=str(ckpt), checkpoint_every=1, **kw).fit(content, style)
    resumed = AttentionPurifier(iterations=3, ema=d, checkpoint=str(ckpt), **kw).fit(content, style)
    assert resumed.fit_info_["resumed_from"] == 2 and "weight average decay 0.2" in resumed.record_notes()[1]
    for k in floats:
        assert torch.allclose(resumed.net_.state_dict()[k], avg3.net_.state_dict()[k], atol=1e-5), k
    # the average is part of what is learned: an ema checkpoint is not a plain fit's
    with pytest.raises(ValueError, match="another configuration"):
        AttentionPurifier(iterations=3, checkpoint=str(ckpt), **kw).fit(content, style)
    with pytest.raises(ValueError, match="ema=1"):
        AttentionPurifier(ema=1.0).resolved()


def test_train_scale_trains_and_purifies_at_a_multiple_of_each_images_size(tmp_path):
    content, style = _toy(8, 1, True).without_labels(), _toy(8, 2, False)
    assert AttentionPurifier().resolved()["train_scale"] is None  # the presets train at native size
    pur = AttentionPurifier(iterations=1, train_scale=2, **TINY)
    pur.fit(content, style)
    assert pur.train_size_ == [72, 120] and pur.train_scale_ == 2.0
    seen = []
    pur.net_.register_forward_pre_hook(lambda mod, args: seen.append(tuple(args[0].shape[-2:])))
    small = make_toy_eyes(2, (30, 50), stream=5, wild=True)
    out = pur.purify(small.without_labels())
    assert seen == [(60, 100)] and out.shape == small.images.shape  # 2x its own size, then back
    assert "2x the images' size (72x120)" in pur.record_notes()[1]
    path = tmp_path / "att.pt"
    pur.save(path)
    again = AttentionPurifier(**FAST).load(path)  # the scale comes from the file
    assert again.train_scale_ == 2.0 and torch.equal(again.purify(small.without_labels()), out)
    native = AttentionPurifier(iterations=1, train_scale=1, **TINY).fit(content, style)
    assert native.train_size_ is None and native.train_scale_ is None
    explicit = AttentionPurifier(iterations=1, train_size=(40, 64), **TINY).fit(content, style)
    assert explicit.train_size_ == [40, 64] and explicit.train_scale_ is None  # a size wins over the scale
    with pytest.raises(ValueError, match="train_scale=0"):
        AttentionPurifier(train_scale=0).resolved()


def test_feedforward_errors_and_sizes():
    content, style = _toy(6, 1, True).without_labels(), _toy(6, 2, False)
    pur = AttentionPurifier(iterations=1, train_size=(40, 64), **TINY)
    with pytest.raises(ValueError, match="not fitted"):
        pur.purify(content)
    with pytest.raises(ValueError, match="needs region masks"):
        pur.fit(content.replace(masks=None), style)
    pur.fit(content, style)
    gray = make_toy_eyes(2, (30, 50), stream=5, wild=True)
    out = pur.purify(gray.without_labels())
    assert out.shape == gray.images.shape and out.dtype == torch.uint8
    with pytest.raises(ValueError, match="needs region masks"):
        pur.purify(gray.replace(masks=None))
    with pytest.raises(ValueError, match="preset='fast'"):
        AttentionPurifier(preset="fast").resolved()
    j = JohnsonPurifier(iterations=1, **JOHNSON_TINY)
    j.fit(content.replace(masks=None), style)
    assert j.purify(gray.replace(masks=None)).shape == gray.images.shape


def test_reinhard_matches_style_statistics():
    import kornia.color

    style = _toy(8, 2, False)
    raw = _toy(4, 3, True)
    out = ReinhardPurifier().fit(raw, style).purify(raw.without_labels())
    lab = kornia.color.rgb_to_lab(out.float() / 255).flatten(2)
    target = kornia.color.rgb_to_lab(style.images.float() / 255).flatten(2)
    assert torch.allclose(lab.mean(-1)[:, 0], target.mean(-1)[:, 0].mean().expand(4), atol=1.0)
    assert torch.allclose(lab.std(-1)[:, 0], target.std(-1)[:, 0].mean().expand(4), atol=1.5)
    same = ReinhardPurifier().fit(raw[:1], raw[:1]).purify(raw[:1])
    assert int((same.int() - raw.images[:1].int()).abs().max()) <= 2  # its own style: (almost) unchanged


def test_gatys_projected_lbfgs_and_objective():
    style, raw = _toy(4, 2, False), _toy(1, 3, True)
    g = GatysPurifier(iterations=6, **FAST).fit(raw, style)
    out = g.purify(raw.without_labels())
    assert len(g.trace_[0]) == 6 and g.trace_[0][-1] < g.trace_[0][0]  # six real iterations, descending
    assert out.shape == raw.images.shape
    same = GatysPurifier(iterations=0, init="content", **FAST).fit(raw, style).purify(raw.without_labels())
    assert torch.equal(same, raw.images)
    # scored against itself (output = content = the only style image) only theta * TV is left
    from gazebench_plugins.purifiers.losses import total_variation

    scores = g.objective(raw.images, raw.images, raw.images, (raw.masks, raw.masks))
    assert scores.dtype == torch.float64 and scores.shape == (1,)
    assert float(scores[0]) == pytest.approx(1e-6 * float(total_variation(raw.images.float())), rel=1e-3)
    assert GatysPurifier(loss="paper").needs_masks and not GatysPurifier().needs_masks
    with pytest.raises(ValueError, match="init="):
        GatysPurifier(init="zeros")


def test_paired_metrics_known_answers():
    b = make_toy_eyes(6, (36, 60), stream=8, wild=True)
    c = pupil_centres(b.images, b.masks)
    moved = pupil_centres(torch.roll(b.images, 1, dims=3), b.masks)
    assert torch.allclose((moved - c)[:, 0], torch.ones(6, dtype=torch.float64), atol=0.05)
    m = paired_metrics(b.images, b.images, b.images, b.masks, b.pupil)
    assert m["pupil_shift_px_mean"] == 0 and m["raw_ssim"] == pytest.approx(1.0)
    assert m["raw_psnr_db"] == m["purified_psnr_db"] > 100
    assert m["detector_error_px_raw"] < 1.0  # toy pupils are the darkest blob: the measure is exact-ish
    assert m["pupil_err_raw_px"] == m["pupil_err_purified_px"] == m["pupil_err_oracle_px"] == m["detector_error_px_raw"]
    shifted = paired_metrics(b.images, torch.roll(b.images, 1, dims=3), b.images, b.masks, b.pupil)
    assert shifted["pupil_shift_px_mean"] == pytest.approx(1.0, abs=0.05)
    assert shifted["pupil_err_purified_px"] > shifted["pupil_err_oracle_px"]
    maps = region_maps(b.masks, ((2, 3),))
    assert maps.shape == (6, 1, 36, 60)


def test_description_names_the_resolved_loss_network(tmp_path, monkeypatch):
    """The runner's cache keys on describe(): other weights must give another key."""
    from gazebench_plugins.purifiers import losses

    monkeypatch.delenv(losses.WEIGHTS_ENV, raising=False)
    assert AttentionPurifier(loss_weights="random").describe()["loss_network"] == {"arch": "vgg19", "weights": "random"}
    f = tmp_path / "w.pth"
    f.write_bytes(b"x" * 10)
    monkeypatch.setenv(losses.WEIGHTS_ENV, str(f))
    assert GatysPurifier().describe()["loss_network"] == {"arch": "vgg19", "weights": "w.pth (10 bytes)"}


def test_purifiers_on_real_patches(mpiigaze_patches):
    """Real gray MPIIGaze crops, masks from the threshold segmenter: gray in, gray out, and
    Reinhard moves their brightness to the style's."""
    from gazebench.types import EyeBatch
    from gazebench_plugins.segmenters.threshold import ThresholdSegmenter

    imgs = torch.from_numpy(mpiigaze_patches[:24].copy())[:, None]
    real = EyeBatch(images=imgs, masks=ThresholdSegmenter().segment(imgs))
    style = _toy(16, 2, False)
    att = AttentionPurifier(iterations=2, **TINY).fit(real[:16], style)
    out = att.purify(real[16:])
    assert out.shape == (8, 1, 36, 60) and out.dtype == torch.uint8
    rein = ReinhardPurifier().fit(real[:16], style).purify(real[16:])
    target = float(style.images.float().mean())
    assert abs(float(rein.float().mean()) - target) < abs(float(imgs[16:].float().mean()) - target)


def test_objective_trace_is_recorded_saved_and_compared_with_the_identity(tmp_path):
    content, style = _toy(8, 1, True).without_labels(), _toy(8, 2, False)
    pur = AttentionPurifier(iterations=5, **TINY).fit(content, style)
    tr = pur.objective_trace(max_points=3)
    assert tr["step"] == [1, 3, 5]
    for k in ("content", "style", "tv", "seg", "total"):  # the cpu preset's terms
        assert len(tr[k]) == 3 and all(v >= 0 for v in tr[k])
    # the weighted terms add up to the total at every step
    assert [c + s + t + g for c, s, t, g in zip(tr["content"], tr["style"], tr["tv"], tr["seg"])] == \
        pytest.approx(tr["total"], rel=1e-5)
    probe = tr["probe"]
    assert probe["identity"]["content"] == pytest.approx(0.0, abs=1e-6)  # the input is its own content
    assert probe["final"]["total"] > 0 and probe["n_images"] == 8
    pur.save(tmp_path / "a.pt")
    again = AttentionPurifier(**TINY).load(tmp_path / "a.pt")
    assert again.objective_trace(max_points=3) == tr
    assert AttentionPurifier(**TINY).objective_trace() is None


def test_the_run_seed_reaches_the_purifier():
    # seed=None (default) takes torch's global seed, which `gazebench run --seed N` sets
    content, style = _toy(6, 1, True).without_labels(), _toy(6, 2, False)

    def first_weight(seed):
        torch.manual_seed(seed)
        return AttentionPurifier(iterations=1, **TINY).fit(content, style).net_.state_dict()

    w0, w0b, w1 = first_weight(0), first_weight(0), first_weight(1)
    key = next(iter(w0))
    assert torch.equal(w0[key], w0b[key]) and not torch.equal(w0[key], w1[key])
    torch.manual_seed(5)
    fixed = AttentionPurifier(iterations=1, seed=0, **TINY).fit(content, style).net_.state_dict()
    assert torch.equal(fixed[key], w0[key])  # an explicit seed still wins


class _ConstLogits(nn.Module):
    """A stand-in segmenter: fixed logits (K, H, W) for every image, plus one trainable weight
    (which the consistency term must freeze)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits, self.w = logits, nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * self.logits.expand(len(x), -1, -1, -1) + 0.0 * x.sum()


def test_segmentation_consistency_known_answers():
    from gazebench_plugins.purifiers.objective import SegmentationConsistency

    class Zero:
        def __call__(self, out, content, labels, targets, content_feats=None):
            return out.new_zeros(()), {"content": 0.0, "style": 0.0, "tv": 0.0, "total": 0.0}

    labels = torch.tensor([[[0, 1, 2], [3, 0, 1]]])  # (1, 2, 3)
    out = torch.full((1, 3, 2, 3), 100.0)
    # uniform logits over 4 labels: cross-entropy log 4 wherever the labels are
    flat = SegmentationConsistency(Zero(), _ConstLogits(torch.zeros(1, 4, 2, 3)), lambda g: g, weight=2.0)
    loss, parts = flat(out, out, labels, {})
    assert parts["seg"] == pytest.approx(2.0 * math.log(4)) and parts["total"] == pytest.approx(parts["seg"])
    # logits that name each pixel's label with margin m: cross-entropy log(1 + 3 e^-m)
    m = 5.0
    onehot = torch.nn.functional.one_hot(labels[0], 4).permute(2, 0, 1)[None].float() * m
    right = SegmentationConsistency(Zero(), _ConstLogits(onehot), lambda g: g, weight=1.0)
    assert right(out, out, labels, {})[1]["seg"] == pytest.approx(math.log(1 + 3 * math.exp(-m)), rel=1e-5)
    # every pixel's label one step off: the right logit is 0, one other is m: log(e^m + 3)
    wrong = right(out, out, (labels + 1) % 4, {})[1]["seg"]
    assert wrong == pytest.approx(math.log(math.exp(m) + 3), rel=1e-5)
    # the segmenter is frozen; gray input is the BT.601 luma of RGB
    assert not right.segmenter.w.requires_grad
    seen = []
    probe = SegmentationConsistency(Zero(), _ConstLogits(torch.zeros(1, 4, 2, 3)),
                                    lambda g: seen.append(g) or g, weight=1.0)
    rgb = torch.zeros(1, 3, 2, 3)
    rgb[:, 0], rgb[:, 1], rgb[:, 2] = 100.0, 200.0, 50.0
    probe(rgb, rgb, labels, {})
    assert seen[0].shape == (1, 1, 2, 3) and torch.allclose(seen[0], torch.full((1, 1, 2, 3), 0.299 * 100 + 0.587 * 200 + 0.114 * 50))


def test_seg_weight_trains_a_style_segmenter_records_its_term_and_resumes_exactly(tmp_path):
    content, style = _toy(12, 1, True).without_labels(), _toy(12, 2, False)
    kw = dict(TINY, seg_weight=50.0, seg_iterations=3, seed=0)
    assert AttentionPurifier().resolved()["seg_weight"] == 1e4 and AttentionPurifier(preset="paper").resolved()["seg_weight"] == 0
    pur = AttentionPurifier(iterations=4, **kw).fit(content, style)
    tr = pur.objective_trace(max_points=4)
    assert set(tr) >= {"content", "style", "tv", "seg", "total"}
    assert [c + s + t + g for c, s, t, g in zip(tr["content"], tr["style"], tr["tv"], tr["seg"])] == \
        pytest.approx(tr["total"], rel=1e-5)
    assert all(v > 0 for v in tr["seg"]) and "seg" in tr["probe"]["identity"]
    assert pur.fit_info_["segmenter"]["iterations"] == 3
    assert "segmentation consistency x50" in pur.record_notes()[1]
    pur.save(tmp_path / "s.pt")
    assert AttentionPurifier(**TINY).load(tmp_path / "s.pt").objective_trace(max_points=4) == tr
    # resume: the segmenter is refitted from the seed, so 2 + 2 resumed steps are the 4 straight ones
    ckpt = tmp_path / "seg.ckpt"
    AttentionPurifier(iterations=2, checkpoint=str(ckpt), checkpoint_every=1, **kw).fit(content, style)
    resumed = AttentionPurifier(iterations=4, checkpoint=str(ckpt), **kw).fit(content, style)
    assert resumed.fit_info_["resumed_from"] == 2
    assert resumed.history_ == pytest.approx(pur.history_, rel=1e-5)
    # the term is learned: a plain fit does not resume from it; off, its size is not in the fingerprint
    with pytest.raises(ValueError, match="another configuration"):
        AttentionPurifier(iterations=4, checkpoint=str(ckpt), **{**TINY, "seg_weight": 0.0}).fit(content, style)
    off_a = AttentionPurifier(iterations=1, seed=0, **{**TINY, "seg_weight": 0.0}).fit(content, style)
    off_b = AttentionPurifier(iterations=1, seed=0, **{**TINY, "seg_weight": 0.0, "seg_iterations": 7}).fit(content, style)
    assert off_a.fit_info_["fingerprint"] == off_b.fit_info_["fingerprint"]
    assert "seg" not in off_a.objective_trace() and "segmenter" not in off_a.fit_info_
    from gazebench.params import check_params  # the CLI's check of -o values

    with pytest.raises(ValueError, match="seg_weight"):
        check_params(AttentionPurifier, {"seg_weight": -1.0}, kind="purifier", name="attention")


def test_johnson_takes_the_segmentation_term_with_masks_at_training_time_only():
    content, style = _toy(8, 1, True).without_labels(), _toy(8, 2, False)
    j = JohnsonPurifier(iterations=2, seg_weight=50.0, seg_iterations=2, seed=0, **JOHNSON_TINY).fit(content, style)
    tr = j.objective_trace()
    assert "seg" in tr and all(v > 0 for v in tr["seg"]) and "segmentation consistency x50" in j.record_notes()[1]
    # purifying needs no masks: the network never sees them
    assert j.purify(content.replace(masks=None)).shape == content.images.shape
    assert JohnsonPurifier().resolved()["seg_weight"] == 0  # off in the preset
    with pytest.raises(ValueError, match="needs region masks"):
        JohnsonPurifier(iterations=1, seg_weight=50.0, seg_iterations=2, **JOHNSON_TINY).fit(
            content.replace(masks=None), style)
