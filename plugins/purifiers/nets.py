"""Feed-forward transformation networks: the paper's attention-guided net and Johnson's.

Both map float images in [0, 255] to float images in [0, 255] of the same size (any size: the
input is reflection-padded to a multiple of 4 and the output cropped back).

:class:`AttentionTransformNet` (the paper's section 3.3 and eq. 7-9)::

    RGB  -> 9x9 conv-BN-ReLU -> f_full ┐
    mask -> 9x9 conv-BN-ReLU -> f_mask ┴-> x = [f_full, f_mask]
    att+ = sigmoid(conv3x3(x)),  att- = 1 - att+                       (eq. 7-8)
    [f_full, x * att+, x * att-]                                       (eq. 9: three streams)
    -> 3x3/2 conv-BN-ReLU -> 3x3/2 conv-BN-ReLU -> 4 x residual block
    -> 4x4/2 transposed conv-BN-ReLU (x2) -> 9x9 conv -> 127.5 (1 + tanh)

Residual block (Fig. 3): conv3x3 -> BN -> ReLU -> dropout -> BN -> conv3x3, plus the identity.
The paper's "3x3 convolutions with padding 0" are applied to reflection-padded inputs so sizes
are kept (Johnson's networks pad by reflection too).

:class:`JohnsonTransformNet`: Johnson et al.'s image transformation network: 9x9, two 3x3/2
downsampling convs, five residual blocks (conv-BN-ReLU-conv-BN), two 3x3/2 fractionally strided
convs, 9x9, scaled tanh; RGB input only.

Speed (eval mode): both nets run the same layers through exact reformulations, with the same
parameters and ``state_dict`` keys: BatchNorm folded into the neighbouring convolutions (into the
next conv too, which reflection padding makes exact), channels_last activations, oneDNN's fused
conv + ReLU / conv + residual-add / transposed conv + ReLU ops, the 9x9 16->3 output conv split by
kernel rows (27 output channels then a shifted sum), and in the attention net eq. 9's three
streams as two convolutions over ``[x, x * att+]`` and the 1-output attention conv as a tap matmul.
Training mode runs the layer modules (only the stream reformulation, which is differentiable).
``tests/test_nets_fast.py`` checks outputs (< 1e-3 grey levels) and gradients against the original
forward; ``benchmarks/attention_net.py`` and ``results/cpu/attention_net.md`` give the timings.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBNReLU(nn.Sequential):
    """Reflection pad, k x k convolution (stride ``stride``), batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride),
                         nn.BatchNorm2d(cout), nn.ReLU())


class PaperResidualBlock(nn.Module):
    """Fig. 3: conv3x3 -> BN -> ReLU -> dropout -> BN -> conv3x3, plus the identity."""

    def __init__(self, channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Dropout2d(dropout), nn.BatchNorm2d(channels), nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class JohnsonResidualBlock(nn.Module):
    """Johnson et al.: conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _up(cin: int, cout: int, kernel: int) -> nn.Sequential:
    # 4x4/2 pad 1 (Odena et al.) doubles exactly; 3x3/2 pad 1 needs output_padding 1 (Johnson)
    conv = (nn.ConvTranspose2d(cin, cout, 4, 2, 1) if kernel == 4
            else nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1))
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU())


class _SizeKeeping(nn.Module):
    """Pads inputs to a multiple of 4 (two stride-2 stages) and crops the output back."""

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        return x, (h, w)

    @staticmethod
    def _to_unit(images: torch.Tensor) -> torch.Tensor:
        return images / 127.5 - 1.0

    @staticmethod
    def _to_pixels(x: torch.Tensor) -> torch.Tensor:
        return 127.5 * (1.0 + torch.tanh(x))  # the scaled tanh: pixels in [0, 255]


# ---------------------------------------------------------------------------------------------
# Exact reformulations for inference (eval mode).  Each rewrites a layer into work oneDNN runs
# near the machine's peak; none changes a parameter or the function beyond float rounding
# (tests/test_nets_fast.py checks every one against the original layer-by-layer forward).
# ---------------------------------------------------------------------------------------------

_CL = torch.channels_last


def _bn_affine(bn: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with ``bn(x) == scale * x + shift`` per channel (eval mode, running statistics)."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def _fold_after(w: torch.Tensor, b: torch.Tensor | None, bn: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """bn(conv(x, w, b)) == conv(x, w', b')."""
    scale, shift = _bn_affine(bn)
    return w * scale.view(-1, 1, 1, 1), shift if b is None else b * scale + shift


def _fold_before(bn: nn.BatchNorm2d, w: torch.Tensor, b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """conv(reflect_pad(bn(x)), w, b) == conv(reflect_pad(x), w', b').

    Exact only because reflection padding copies values (zero padding would not see the shift)."""
    scale, shift = _bn_affine(bn)
    b2 = torch.einsum("oikl,i->o", w, shift)
    return w * scale.view(1, -1, 1, 1), b2 if b is None else b + b2


def _row_split(w: torch.Tensor, b: torch.Tensor) -> dict[str, Any]:
    """A k x k conv with few outputs as a 1 x k conv with k x the outputs plus a shifted sum.

    oneDNN vectorises over output channels (16 at a time), so a 16->3 9x9 conv keeps 3 of 16 lanes
    busy (measured 17-35 GFLOP/s). Giving each kernel row i its own outputs (i, o) keeps 27 of 32
    lanes busy with the same multiply-adds; row i's partial sums are then shifted down by i rows
    and added (one strided reduction). The bias rides on row 0.
    """
    o, c, k, _ = w.shape
    rows = w.permute(2, 0, 1, 3).reshape(k * o, c, 1, k)  # output channel i * o + o' holds kernel row i
    bias = torch.cat([b, b.new_zeros((k - 1) * o)])
    return dict(rows=rows.contiguous(memory_format=_CL), bias=bias, k=k)


def _row_split_conv(x: torch.Tensor, rs: dict[str, Any]) -> torch.Tensor:
    """conv2d(x, w, b) (valid, stride 1) from :func:`_row_split`'s pieces; channels_last output."""
    k = rs["k"]
    z = F.conv2d(x, rs["rows"], rs["bias"]).permute(0, 2, 3, 1).contiguous()  # (B, H + k - 1, W, k O)
    bsz, hp, wd, ko = z.shape
    s = z.stride()
    # element (b, i, y, x, o) = z[b, y + i, x, i * O + o]: row i's partial sums, shifted by i rows
    shifted = z.as_strided((bsz, k, hp - k + 1, wd, ko // k), (s[0], s[1] + ko // k, s[1], s[2], 1))
    return shifted.sum(1).permute(0, 3, 1, 2)


def _taps_conv(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """A valid 3x3 conv with one output (``taps``: (C, 9)) as a matmul and nine shifted adds.

    One output channel leaves 15 of oneDNN's 16 lanes idle (measured 2-6 GFLOP/s). A (9, C) x
    (C, pixels) matmul, reading a channels_last ``x`` as a transposed operand, gives one plane per
    tap; tap (i, j)'s plane is then added in shifted by (i, j) (contiguous rows: vectorised adds).
    """
    bsz, c, hp, wp = x.shape
    z = torch.matmul(taps.t(), x.permute(0, 2, 3, 1).reshape(bsz, hp * wp, c).transpose(1, 2))
    z = z.view(bsz, 9, hp, wp)
    out = z[:, 0:1, :hp - 2, :wp - 2].clone()
    for k in range(1, 9):
        i, j = divmod(k, 3)
        out.add_(z[:, k:k + 1, i:i + hp - 2, j:j + wp - 2])
    return out


def _stage(name: str) -> Any:
    """A profiler label (benchmarks/attention_net.py times the stages); about a microsecond otherwise."""
    if torch.compiler.is_compiling():  # dynamo drops record_function with a warning
        return contextlib.nullcontext()
    return torch.profiler.record_function(name)


def _deconv_relu(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, padding: int,
                 output_padding: int) -> torch.Tensor:
    if _fusable(x) and hasattr(torch.ops.mkldnn, "_convolution_transpose_pointwise"):
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            x, w, b, [padding] * 2, [output_padding] * 2, [stride] * 2, [1, 1], 1, "relu", [], "")
    return F.relu(F.conv_transpose2d(x, w, b, stride, padding, output_padding))


def _fusable(x: torch.Tensor) -> bool:
    """Whether oneDNN's fused conv + ReLU op may run: fp32 CPU inference outside autocast and compile."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()
            and torch.backends.mkldnn.is_available() and torch._C._get_mkldnn_enabled()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))


def _conv_relu(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1, padding: int = 0,
               relu: bool = True) -> torch.Tensor:
    if _fusable(x):
        return torch.ops.mkldnn._convolution_pointwise(x, w, b, [padding] * 2, [stride] * 2, [1, 1], 1,
                                                       "relu" if relu else "none", [], "")
    y = F.conv2d(x, w, b, stride, padding)
    return F.relu(y) if relu else y


def _conv_add(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, other: torch.Tensor, stride: int = 1,
              relu: bool = False) -> torch.Tensor:
    """conv2d(x, w, b, stride) + other, then ReLU if asked; one fused oneDNN op where it may run."""
    if _fusable(x):
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, other, w, b, [0, 0], [stride] * 2, [1, 1], 1, "add", None, "relu" if relu else None, [], "")
    y = F.conv2d(x, w, b, stride) + other
    return F.relu(y) if relu else y


def _reflect(x: torch.Tensor, p: int) -> torch.Tensor:
    return F.pad(x, (p, p, p, p), mode="reflect")


def _cat_reflect1(parts: list[torch.Tensor]) -> torch.Tensor:
    """``reflect_pad(cat(parts, 1), 1)`` in one pass over the data (channels_last).

    The parts are concatenated straight into the interior of the padded buffer and the border rows
    and columns copied from their mirror rows (rows first, so the corners come out as reflection
    padding's); this halves the memory traffic of a cat followed by a pad. ``out=`` has no autograd.
    """
    if torch.is_grad_enabled():
        return _reflect(torch.cat(parts, 1), 1)
    b, _, h, w = parts[0].shape
    buf = parts[0].new_empty(b, h + 2, w + 2, sum(p.shape[1] for p in parts)).permute(0, 3, 1, 2)
    torch.cat(parts, 1, out=buf[:, :, 1:-1, 1:-1])
    buf[:, :, 0], buf[:, :, -1] = buf[:, :, 2], buf[:, :, -3]
    buf[:, :, :, 0], buf[:, :, :, -1] = buf[:, :, :, 2], buf[:, :, :, -3]
    return buf


class _FastEval(nn.Module):
    """Caches the eval-mode derived weights, keyed on every parameter and buffer's version."""

    def _derived(self) -> dict:
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return self._derive()  # built in the graph: gradients reach the original parameters
        tensors = list(self.parameters()) + list(self.buffers())
        key = (torch.is_inference_mode_enabled(),) + tuple((t._version, t.data_ptr(), t.dtype) for t in tensors)
        cache = self.__dict__.get("_fast_cache")
        if cache is None or cache[0] != key:
            cache = (key, self._derive())
            self.__dict__["_fast_cache"] = cache  # a plain attribute: not in state_dict, not copied by .to()
        return cache[1]

    def _derive(self) -> dict:
        raise NotImplementedError

    def _derive_tail(self, up: nn.Sequential, out: nn.Sequential) -> dict:
        d: dict = {"up": []}
        for layer in up:
            ct, bn = layer[0], layer[1]
            scale, shift = _bn_affine(bn)  # a transposed conv's weight is (in, out, k, k)
            w = (ct.weight * scale.view(1, -1, 1, 1)).contiguous(memory_format=_CL)
            d["up"].append((w, ct.bias * scale + shift, ct.stride[0], ct.padding[0], ct.output_padding[0]))
        w, b = out[1].weight, out[1].bias
        d["out"] = _row_split(w, b)
        return d

    @staticmethod
    def _run_tail(y: torch.Tensor, d: dict, h: int, w: int) -> torch.Tensor:
        for i, (wt, bt, stride, pad, out_pad) in enumerate(d["up"]):
            with _stage(f"up{i}"):
                y = _deconv_relu(y, wt, bt, stride, pad, out_pad)
        with _stage("out"):
            y = _row_split_conv(_reflect(y, 4), d["out"])
            return (127.5 * (1.0 + torch.tanh(y[..., :h, :w]))).contiguous()


class AttentionTransformNet(_SizeKeeping, _FastEval):
    """The paper's attention-guided transformation network (see the module docstring).

    In eval mode the forward runs exact reformulations of the same layers (BN folded into the
    convolutions, the three streams as one convolution over ``[x, x * att]``, the transposed
    convs as phase convolutions, the 9x9 output conv split by rows, channels_last); in training
    mode only the stream reformulation. Parameters and ``state_dict`` keys are the original ones.

    Args:
        mask_channels: channels of the region mask input (one per region).
        width: channels after the first layer (doubled by each downsampling conv).
        mask_width: channels of the mask stream ``f_mask``.
        n_residual: residual blocks (the paper: four).
        dropout: dropout probability inside the residual blocks (the paper gives none).
    """

    def __init__(self, mask_channels: int = 1, width: int = 32, mask_width: int = 16,
                 n_residual: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        if mask_channels < 1:
            raise ValueError("mask_channels must be >= 1: the attention net takes an RGB-mask pair")
        self.config = dict(mask_channels=mask_channels, width=width, mask_width=mask_width,
                           n_residual=n_residual, dropout=dropout)
        joint = width + mask_width
        self.full = ConvBNReLU(3, width, 9)
        self.mask = ConvBNReLU(mask_channels, mask_width, 9)
        self.attention = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(joint, 1, 3))
        self.down = nn.Sequential(ConvBNReLU(width + 2 * joint, 2 * width, 3, 2),
                                  ConvBNReLU(2 * width, 4 * width, 3, 2))
        self.body = nn.Sequential(*[PaperResidualBlock(4 * width, dropout) for _ in range(n_residual)])
        self.up = nn.Sequential(_up(4 * width, 2 * width, 4), _up(2 * width, width, 4))
        self.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(width, 3, 9))
        self.last_attention: torch.Tensor | None = None

    def stream_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first downsampling conv's weight over ``[x, x * att+]`` instead of eq. 9's streams.

        With x = [f_full, f_mask] and W = [W_f, W_a, W_b] over [f_full, x * att+, x * (1 - att+)]:
        W_f f_full + W_a (x att+) + W_b (x - x att+) = (W_b + [W_f, 0]) x + (W_a - W_b)(x att+),
        a quarter fewer input channels and no second product. Differentiable: training updates
        the original weight.
        """
        w = self.down[0][1].weight
        width = self.config["width"]
        joint = (w.shape[1] - width) // 2
        w_f, w_a, w_b = w[:, :width], w[:, width:width + joint], w[:, width + joint:]
        w_x = w_b + F.pad(w_f, (0, 0, 0, 0, 0, joint - width))
        return torch.cat([w_x, w_a - w_b], 1), self.down[0][1].bias

    def forward(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 255] and (B, C, H, W) region maps -> float (B, 3, H, W) in [0, 255]."""
        if not self.training and _running_stats(self):
            return self._forward_eval(images, masks)
        x, (h, w) = self._pad(torch.cat([self._to_unit(images), masks.to(images.dtype)], 1))
        f_full = self.full(x[:, :3])
        joint = torch.cat([f_full, self.mask(x[:, 3:])], 1)
        att = torch.sigmoid(self.attention(joint))  # eq. 7; att- = 1 - att+ (eq. 8)
        self.last_attention = att[..., :h, :w].detach()
        wd, bd = self.stream_weight()  # eq. 9's three streams, reformulated exactly
        y = F.conv2d(_reflect(torch.cat([joint, joint * att], 1), 1), wd, bd, stride=2)
        y = self.down[0][3](self.down[0][2](y))
        y = self.out(self.up(self.body(self.down[1](y))))
        return self._to_pixels(y[..., :h, :w])

    def _derive(self) -> dict:
        cl = _CL
        d: dict = {}
        for name in ("full", "mask"):
            layer = getattr(self, name)
            wf, bf = _fold_after(layer[1].weight, layer[1].bias, layer[2])
            d[name] = (wf.contiguous(memory_format=cl), bf)
        wa = self.attention[1].weight  # (1, J, 3, 3) -> (J, 9): column i * 3 + j is tap (i, j)
        d["att_taps"] = wa.reshape(wa.shape[1], 9).contiguous()
        d["att_bias"] = self.attention[1].bias.view(1, 1, 1, 1)
        wd, bd = _fold_after(*self.stream_weight(), self.down[0][2])
        joint = wd.shape[1] // 2
        d["down0_x"], d["down0_att"] = (v.contiguous(memory_format=cl) for v in (wd[:, :joint], wd[:, joint:]))
        d["down0_b"] = bd
        wd, bd = _fold_after(self.down[1][1].weight, self.down[1][1].bias, self.down[1][2])
        d["down1"] = (wd.contiguous(memory_format=cl), bd)
        d["body"] = []
        for block in self.body:
            m = block.body  # pad, conv, BN, ReLU, dropout, BN, pad, conv
            w1, b1 = _fold_after(m[1].weight, m[1].bias, m[2])
            w2, b2 = _fold_before(m[5], m[7].weight, m[7].bias)
            d["body"].append((w1.contiguous(memory_format=cl), b1, w2.contiguous(memory_format=cl), b2))
        d.update(self._derive_tail(self.up, self.out))
        return d

    def _forward_eval(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        d = self._derived()
        with _stage("in"):
            rgb, (h, w) = self._pad(self._to_unit(images))
            m, _ = self._pad(masks.to(images.dtype))
        with _stage("first"):
            f_full = _conv_relu(_reflect(rgb, 4).contiguous(memory_format=_CL), *d["full"])
            # with one input channel oneDNN may answer in NCHW; a mixed-layout cat would be NCHW
            f_mask = _conv_relu(_reflect(m, 4).contiguous(memory_format=_CL), *d["mask"]).contiguous(memory_format=_CL)
            pj = _cat_reflect1([f_full, f_mask]).contiguous(memory_format=_CL)
        with _stage("attention"):
            att = torch.sigmoid(_taps_conv(pj, d["att_taps"]) + d["att_bias"])
            self.last_attention = att[..., :h, :w].detach()
        with _stage("down0"):
            # [x, x * att] @ W as two convs: a concatenated copy costs more than the second conv call
            y = _conv_relu(pj, d["down0_x"], d["down0_b"], stride=2, relu=False)
            y = _conv_add(pj * _reflect(att, 1), d["down0_att"], None, y, stride=2, relu=True)
        with _stage("down1"):
            y = _conv_relu(_reflect(y, 1), *d["down1"], stride=2)
        with _stage("body"):
            for w1, b1, w2, b2 in d["body"]:
                t = _conv_relu(_reflect(y, 1), w1, b1)
                y = _conv_add(_reflect(t, 1), w2, b2, y)
        return self._run_tail(y, d, h, w)


class JohnsonTransformNet(_SizeKeeping, _FastEval):
    """Johnson et al.'s image transformation network (five residual blocks, RGB only).

    In eval mode the forward runs the same exact reformulations as :class:`AttentionTransformNet`
    where the layers are shared (BN folding, phase convolutions, the row-split 9x9 output conv,
    channels_last).

    Args:
        width: channels after the first layer (32 in Johnson et al.).
        n_residual: residual blocks (Johnson: five).
    """

    def __init__(self, width: int = 32, n_residual: int = 5) -> None:
        super().__init__()
        self.config = dict(width=width, n_residual=n_residual)
        self.down = nn.Sequential(ConvBNReLU(3, width, 9), ConvBNReLU(width, 2 * width, 3, 2),
                                  ConvBNReLU(2 * width, 4 * width, 3, 2))
        self.body = nn.Sequential(*[JohnsonResidualBlock(4 * width) for _ in range(n_residual)])
        self.up = nn.Sequential(_up(4 * width, 2 * width, 3), _up(2 * width, width, 3))
        self.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(width, 3, 9))

    def forward(self, images: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 255] -> float (B, 3, H, W) in [0, 255]; ``masks`` is ignored."""
        if not self.training and _running_stats(self):
            return self._forward_eval(images)
        x, (h, w) = self._pad(self._to_unit(images))
        y = self.out(self.up(self.body(self.down(x))))
        return self._to_pixels(y[..., :h, :w])

    def _derive(self) -> dict:
        d: dict = {"down": [], "body": []}
        for layer in self.down:
            wd, bd = _fold_after(layer[1].weight, layer[1].bias, layer[2])
            d["down"].append((wd.contiguous(memory_format=_CL), bd, layer[1].kernel_size[0] // 2, layer[1].stride[0]))
        for block in self.body:
            m = block.body  # pad, conv, BN, ReLU, pad, conv, BN
            w1, b1 = _fold_after(m[1].weight, m[1].bias, m[2])
            w2, b2 = _fold_after(m[5].weight, m[5].bias, m[6])
            d["body"].append((w1.contiguous(memory_format=_CL), b1, w2.contiguous(memory_format=_CL), b2))
        d.update(self._derive_tail(self.up, self.out))
        return d

    def _forward_eval(self, images: torch.Tensor) -> torch.Tensor:
        d = self._derived()
        with _stage("in"):
            y, (h, w) = self._pad(self._to_unit(images))
            y = y.contiguous(memory_format=_CL)
        for i, (wd, bd, pad, stride) in enumerate(d["down"]):
            with _stage(f"down{i}"):
                y = _conv_relu(_reflect(y, pad), wd, bd, stride=stride)
        with _stage("body"):
            for w1, b1, w2, b2 in d["body"]:
                t = _conv_relu(_reflect(y, 1), w1, b1)
                y = _conv_add(_reflect(t, 1), w2, b2, y)
        return self._run_tail(y, d, h, w)


def _running_stats(net: nn.Module) -> bool:
    """Whether every BatchNorm normalises by running statistics in eval mode (so it can be folded)."""
    return all(m.running_mean is not None for m in net.modules() if isinstance(m, nn.BatchNorm2d))
