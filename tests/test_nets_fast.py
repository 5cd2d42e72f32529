"""The eval-mode reformulations of the transformation networks against the original forward.

``reference_attention_forward`` / ``reference_johnson_forward`` are the networks' forward passes
as they were before the reformulation (layer by layer through the same submodules, eq. 9's three
streams concatenated); ``benchmarks/attention_net.py`` times them as the "before" figures. The
reformulated nets must give the same outputs (< 1e-3 grey levels), the same gradients, and keep
the parameters and ``state_dict`` keys so saved checkpoints still load.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.profiler import record_function

from gazebench_plugins.purifiers.nets import AttentionTransformNet, JohnsonTransformNet


def reference_attention_forward(net: AttentionTransformNet, images: torch.Tensor,
                                masks: torch.Tensor) -> torch.Tensor:
    """The attention net's original forward (stage labels for benchmarks/attention_net.py)."""
    with record_function("in"):
        x, (h, w) = net._pad(torch.cat([net._to_unit(images), masks.to(images.dtype)], 1))
    with record_function("first"):
        f_full = net.full(x[:, :3])
        joint = torch.cat([f_full, net.mask(x[:, 3:])], 1)
    with record_function("attention"):
        att = torch.sigmoid(net.attention(joint))
    with record_function("down0"):
        y = net.down[0](torch.cat([f_full, joint * att, joint * (1.0 - att)], 1))
    with record_function("down1"):
        y = net.down[1](y)
    return _reference_tail(net, y, h, w)


def _reference_tail(net: nn.Module, y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The stages both nets share after downsampling: residual body, upsampling, output conv."""
    with record_function("body"):
        y = net.body(y)
    for i, up in enumerate(net.up):
        with record_function(f"up{i}"):
            y = up(y)
    with record_function("out"):
        return net._to_pixels(net.out(y)[..., :h, :w])


def reference_johnson_forward(net: JohnsonTransformNet, images: torch.Tensor) -> torch.Tensor:
    """Johnson's net's original forward (stage labels as above)."""
    with record_function("in"):
        y, (h, w) = net._pad(net._to_unit(images))
    for i, layer in enumerate(net.down):
        with record_function(f"down{i}"):
            y = layer(y)
    return _reference_tail(net, y, h, w)


def _randomised(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine terms, so folding them is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
    return net


def _pair(kind: str):
    torch.manual_seed(0)
    if kind == "attention":
        net = _randomised(AttentionTransformNet(mask_channels=2, width=8, mask_width=4, n_residual=2))
        return net, reference_attention_forward
    return _randomised(JohnsonTransformNet(width=8, n_residual=2)), reference_johnson_forward


def _inputs(size, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, *size, generator=g) * 255
    masks = torch.rand(batch, 2, *size, generator=g)  # random soft masks, not only 0/1
    return images, masks


def _call(kind, fn, net, images, masks):
    return fn(net, images, masks) if kind == "attention" else fn(net, images)


@pytest.mark.parametrize("kind", ["attention", "johnson"])
@pytest.mark.parametrize("size", [(36, 60), (37, 61)])
def test_eval_forward_matches_reference(kind, size):
    net, ref = _pair(kind)
    net.eval()
    images, masks = _inputs(size)
    with torch.no_grad():
        expected = _call(kind, ref, net, images, masks)
        got = net(images, masks) if kind == "attention" else net(images)
    assert got.shape == images.shape and got.is_contiguous()
    assert float(expected.std()) > 1.0  # a non-constant output: the comparison means something
    assert float((got - expected).abs().max()) < 1e-3
    if kind == "attention":  # the attention map (eq. 7) is the same too
        with torch.no_grad():
            joint_att = torch.sigmoid(net.attention(torch.cat([net.full(net._pad(net._to_unit(images))[0]),
                                                               net.mask(net._pad(masks)[0])], 1)))
        assert float((net.last_attention - joint_att[..., :size[0], :size[1]]).abs().max()) < 1e-5


@pytest.mark.parametrize("kind", ["attention", "johnson"])
def test_eval_cache_follows_parameter_changes(kind):
    net, ref = _pair(kind)
    net.eval()
    images, masks = _inputs((20, 28))
    with torch.no_grad():
        first = net(images, masks) if kind == "attention" else net(images)
        net.out[1].bias.add_(0.5)  # in-place edits must not be served from stale derived weights
        net.body[0].body[2].running_mean.add_(0.3)
        second = net(images, masks) if kind == "attention" else net(images)
        expected = _call(kind, ref, net, images, masks)
    assert float((second - first).abs().max()) > 1.0
    assert float((second - expected).abs().max()) < 1e-3
    other, _ = _pair(kind)
    other = _randomised(other, seed=5)
    net.load_state_dict(other.state_dict())
    with torch.no_grad():
        assert float((_call(kind, ref, net, images, masks) -
                      (net(images, masks) if kind == "attention" else net(images))).abs().max()) < 1e-3


def _grads(net, loss):
    net.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradients_match_reference_and_a_step_trains(mode):
    net, ref = _pair("attention")
    getattr(net, mode)()
    images, masks = _inputs((24, 32))
    weights = torch.rand(images.shape, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(7)  # the same dropout masks in both forwards
    expected = ref(net, images, masks)
    g_ref = _grads(net, (expected * weights).mean())
    torch.manual_seed(7)
    got = net(images, masks)
    g_new = _grads(net, (got * weights).mean())
    assert float((got - expected).detach().abs().max()) < 1e-3
    assert set(g_new) == set(g_ref)
    scale = max(float(g.abs().max()) for g in g_ref.values())  # biases before a train-mode BN: ~0
    for name, g in g_ref.items():
        assert float((g_new[name] - g).abs().max()) <= 1e-3 * float(g.abs().max()) + 1e-5 * scale, name
    # the stream weight is derived in the forward: the original parameter is what learns
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    torch.manual_seed(7)
    loss = (net(images, masks) * weights).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    changed = {n for n, p in net.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert "down.0.1.weight" in changed and "attention.1.weight" in changed and "out.1.weight" in changed
    assert {n for n in before if n.endswith("weight")} <= changed


def test_stream_weight_is_eq_9():
    """conv over [f_full, x att+, x (1 - att+)] == conv over [x, x att+] with the combined weight."""
    net = AttentionTransformNet(mask_channels=1, width=4, mask_width=2)
    g = torch.Generator().manual_seed(0)
    joint = torch.randn(2, 6, 10, 12, generator=g)
    att = torch.rand(2, 1, 10, 12, generator=g)
    conv = net.down[0][1]
    streams = torch.cat([joint[:, :4], joint * att, joint * (1 - att)], 1)
    expected = conv(F.pad(streams, (1, 1, 1, 1), mode="reflect"))
    w, b = net.stream_weight()
    assert w.shape == (8, 12, 3, 3) and conv.weight.shape == (8, 16, 3, 3)  # a quarter fewer inputs
    got = F.conv2d(F.pad(torch.cat([joint, joint * att], 1), (1, 1, 1, 1), mode="reflect"), w, b, stride=2)
    assert torch.allclose(got, expected, atol=1e-5)


def test_fast_path_with_autocast_and_channels_last_inputs():
    net, ref = _pair("attention")
    net.eval()
    images, masks = _inputs((32, 40))
    with torch.no_grad():
        expected = ref(net, images, masks)
        cl = net(images.contiguous(memory_format=torch.channels_last), masks)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = net(images, masks)
    assert float((cl - expected).abs().max()) < 1e-3
    assert bf16.dtype in (torch.float32, torch.bfloat16)
    assert float((bf16.float() - expected).abs().max()) < 8.0  # bf16 rounding, not a different function


ATTENTION_KEYS = {
    "attention.1.bias": (1,), "attention.1.weight": (1, 6, 3, 3), "body.0.body.1.bias": (16,),
    "body.0.body.1.weight": (16, 16, 3, 3), "body.0.body.2.bias": (16,),
    "body.0.body.2.num_batches_tracked": (), "body.0.body.2.running_mean": (16,),
    "body.0.body.2.running_var": (16,), "body.0.body.2.weight": (16,), "body.0.body.5.bias": (16,),
    "body.0.body.5.num_batches_tracked": (), "body.0.body.5.running_mean": (16,),
    "body.0.body.5.running_var": (16,), "body.0.body.5.weight": (16,), "body.0.body.7.bias": (16,),
    "body.0.body.7.weight": (16, 16, 3, 3), "down.0.1.bias": (8,), "down.0.1.weight": (8, 16, 3, 3),
    "down.0.2.bias": (8,), "down.0.2.num_batches_tracked": (), "down.0.2.running_mean": (8,),
    "down.0.2.running_var": (8,), "down.0.2.weight": (8,), "down.1.1.bias": (16,),
    "down.1.1.weight": (16, 8, 3, 3), "down.1.2.bias": (16,), "down.1.2.num_batches_tracked": (),
    "down.1.2.running_mean": (16,), "down.1.2.running_var": (16,), "down.1.2.weight": (16,),
    "full.1.bias": (4,), "full.1.weight": (4, 3, 9, 9), "full.2.bias": (4,), "full.2.num_batches_tracked": (),
    "full.2.running_mean": (4,), "full.2.running_var": (4,), "full.2.weight": (4,), "mask.1.bias": (2,),
    "mask.1.weight": (2, 1, 9, 9), "mask.2.bias": (2,), "mask.2.num_batches_tracked": (),
    "mask.2.running_mean": (2,), "mask.2.running_var": (2,), "mask.2.weight": (2,), "out.1.bias": (3,),
    "out.1.weight": (3, 4, 9, 9), "up.0.0.bias": (8,), "up.0.0.weight": (16, 8, 4, 4), "up.0.1.bias": (8,),
    "up.0.1.num_batches_tracked": (), "up.0.1.running_mean": (8,), "up.0.1.running_var": (8,),
    "up.0.1.weight": (8,), "up.1.0.bias": (4,), "up.1.0.weight": (8, 4, 4, 4), "up.1.1.bias": (4,),
    "up.1.1.num_batches_tracked": (), "up.1.1.running_mean": (4,), "up.1.1.running_var": (4,),
    "up.1.1.weight": (4,),
}
JOHNSON_KEYS = {
    "body.0.body.1.bias": (16,), "body.0.body.1.weight": (16, 16, 3, 3), "body.0.body.2.bias": (16,),
    "body.0.body.2.num_batches_tracked": (), "body.0.body.2.running_mean": (16,),
    "body.0.body.2.running_var": (16,), "body.0.body.2.weight": (16,), "body.0.body.5.bias": (16,),
    "body.0.body.5.weight": (16, 16, 3, 3), "body.0.body.6.bias": (16,),
    "body.0.body.6.num_batches_tracked": (), "body.0.body.6.running_mean": (16,),
    "body.0.body.6.running_var": (16,), "body.0.body.6.weight": (16,), "down.0.1.bias": (4,),
    "down.0.1.weight": (4, 3, 9, 9), "down.0.2.bias": (4,), "down.0.2.num_batches_tracked": (),
    "down.0.2.running_mean": (4,), "down.0.2.running_var": (4,), "down.0.2.weight": (4,),
    "down.1.1.bias": (8,), "down.1.1.weight": (8, 4, 3, 3), "down.1.2.bias": (8,),
    "down.1.2.num_batches_tracked": (), "down.1.2.running_mean": (8,), "down.1.2.running_var": (8,),
    "down.1.2.weight": (8,), "down.2.1.bias": (16,), "down.2.1.weight": (16, 8, 3, 3), "down.2.2.bias": (16,),
    "down.2.2.num_batches_tracked": (), "down.2.2.running_mean": (16,), "down.2.2.running_var": (16,),
    "down.2.2.weight": (16,), "out.1.bias": (3,), "out.1.weight": (3, 4, 9, 9), "up.0.0.bias": (8,),
    "up.0.0.weight": (16, 8, 3, 3), "up.0.1.bias": (8,), "up.0.1.num_batches_tracked": (),
    "up.0.1.running_mean": (8,), "up.0.1.running_var": (8,), "up.0.1.weight": (8,), "up.1.0.bias": (4,),
    "up.1.0.weight": (8, 4, 3, 3), "up.1.1.bias": (4,), "up.1.1.num_batches_tracked": (),
    "up.1.1.running_mean": (4,), "up.1.1.running_var": (4,), "up.1.1.weight": (4,),
}



@pytest.mark.parametrize("kind", ["attention", "johnson"])
def test_state_dict_keys_unchanged_and_round_trip(kind):
    net = (AttentionTransformNet(1, 4, 2, n_residual=1) if kind == "attention" else JohnsonTransformNet(4, 1))
    expected = ATTENTION_KEYS if kind == "attention" else JOHNSON_KEYS
    sd = net.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected  # checkpoints saved before still load
    _randomised(net).eval()
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    fresh = AttentionTransformNet(1, 4, 2, n_residual=1) if kind == "attention" else JohnsonTransformNet(4, 1)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    fresh.eval()
    images, masks = _inputs((16, 20))
    masks = masks[:, :1]
    with torch.no_grad():
        a = net(images, masks) if kind == "attention" else net(images)
        b = fresh(images, masks) if kind == "attention" else fresh(images)
    assert torch.equal(a, b)
    assert "_fast_cache" not in fresh.state_dict() and not any("fast" in k for k in fresh.state_dict())


@pytest.mark.parametrize("size", [(2, 3), (5, 4), (9, 12)])
def test_cat_into_padded_buffer_is_reflection_padding(size):
    from gazebench_plugins.purifiers.nets import _cat_reflect1

    g = torch.Generator().manual_seed(0)
    parts = [torch.randn(2, c, *size, generator=g).contiguous(memory_format=torch.channels_last) for c in (3, 2)]
    expected = F.pad(torch.cat(parts, 1), (1, 1, 1, 1), mode="reflect")
    with torch.no_grad():
        got = _cat_reflect1(parts)
    assert torch.equal(got, expected) and got.is_contiguous(memory_format=torch.channels_last)
