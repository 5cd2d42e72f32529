"""``unet``: a small U-Net trained on rendered masks, with augmentation towards wild conditions.

Gray input (colour is not needed to find a pupil and makes the net indifferent to it), an
encoder of ``depth`` stages (two 3x3 conv-BN-ReLU, then 2x2 max-pool), a bottleneck, a decoder
of transposed convs with skip connections, 4 logits per pixel. Training images are clean
renders degraded on the fly towards what a webcam crop does to an eye (:func:`degrade_wild`:
per-region albedo, scale/shift jitter, directional low-ambient shading, gamma, noise, Gaussian
blur, grain, histogram equalisation, JPEG-like 8x8 quantisation), so a net fitted on clean
renders still segments real eyes. The augmentation is written here, independently of the
renderer's wild style, as a user's segmenter would have to be: it only knows what webcams do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from gazebench.api import Segmenter
from gazebench.device import resolve_device
from gazebench.io import load_state, save_state
from gazebench.types import EyeBatch, to_gray, validate_images

#: the families :func:`degrade_wild` applies, in this order; ``augment="wild"`` is all of them
WILD_FAMILIES = ("albedo", "geometry", "shading", "gamma", "noise", "blur", "grain", "equalize", "jpeg")


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """A small U-Net: 1 channel in, ``classes`` logits out, any size (padded to 2**depth)."""

    def __init__(self, width: int = 16, depth: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.config = dict(width=width, depth=depth, classes=classes)
        chans = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([_double(1, chans[0])] + [_double(chans[i], chans[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[i + 1], chans[i], 2, 2) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([_double(2 * chans[i], chans[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chans[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** self.config["depth"]
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="replicate")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)[..., :h, :w]


def degrade(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The first, simple augmentation (``augment="basic"``) of float gray images in [0, 255]
    (N, 1, H, W): random gain and offset, an additive lighting ramp, a 3x3 box blur, noise."""
    n, _, h, w = x.shape

    def r(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen).to(x.device)

    gain = 0.5 + r(n, 1, 1, 1)
    offset = (r(n, 1, 1, 1) - 0.5) * 100
    angle = r(n, 1, 1, 1) * 2 * math.pi
    ys = torch.linspace(-0.5, 0.5, h, device=x.device).view(1, 1, h, 1)
    xs = torch.linspace(-0.5, 0.5, w, device=x.device).view(1, 1, 1, w)
    ramp = (r(n, 1, 1, 1) - 0.5) * 160 * (torch.cos(angle) * xs + torch.sin(angle) * ys)
    y = x * gain + offset + ramp
    blur = r(n) < 0.5
    if bool(blur.any()):
        y = torch.where(blur.view(n, 1, 1, 1), F.avg_pool2d(y, 3, 1, 1, count_include_pad=False), y)
    y = y + torch.randn(x.shape, generator=gen).to(x.device) * r(n, 1, 1, 1) * 15
    return y.clamp(0, 255)


# --- the wild augmentation's pieces: float gray (N, 1, H, W) in [0, 255], inputs never modified ---

def equalize_hist(x: torch.Tensor) -> torch.Tensor:
    """Per-image histogram equalisation as OpenCV's ``equalizeHist`` (MPIIGaze's normalisation):
    values rounded to 0..255, then ``lut = round((cdf - cdf_min) * 255 / (N - cdf_min))``."""
    n = x.shape[0]
    v = x.round().clamp(0, 255).long().flatten(1)
    hist = torch.zeros(n, 256, dtype=torch.float64, device=x.device)
    hist.scatter_add_(1, v, torch.ones_like(v, dtype=torch.float64))
    cdf = hist.cumsum(1)
    # cdf_min is the count of the darkest value present: OpenCV maps it to 0
    cmin = torch.gather(cdf, 1, (hist > 0).float().argmax(1, keepdim=True))
    total = cdf[:, -1:]
    lut = ((cdf - cmin) * 255 / (total - cmin).clamp_min(1)).round().clamp(0, 255)
    flat = (total == cmin).expand_as(lut)  # one grey level: OpenCV leaves it as it is
    lut = torch.where(flat, torch.arange(256, dtype=lut.dtype, device=x.device).expand_as(lut), lut)
    return torch.gather(lut, 1, v).to(x.dtype).view_as(x)


def region_albedo(x: torch.Tensor, masks: torch.Tensor, region: int, factor: torch.Tensor,
                  towards: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Move the pixels of label ``region`` towards the level ``towards`` by ``factor`` per image
    (``y = towards + factor * (x - towards)``): factor < 1 with towards 0 darkens (a near-black
    webcam iris), towards ~128 greys (a dim, greyish sclera). Other pixels are unchanged."""
    f = factor.reshape(-1, 1, 1, 1).to(x)
    t = torch.as_tensor(towards, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    sel = (masks == region).unsqueeze(1)
    return torch.where(sel, t + f * (x - t), x).clamp(0, 255)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma (px) per image; sigma 0 leaves an image as it is."""
    n, c, h, w = x.shape
    rad = max(1, int(math.ceil(3 * float(sigma.max()))))
    t = torch.arange(-rad, rad + 1, dtype=x.dtype, device=x.device)
    s = sigma.to(x).reshape(n, 1).clamp_min(1e-3)
    k = torch.exp(-0.5 * (t.view(1, -1) / s) ** 2)
    k = k / k.sum(1, keepdim=True)
    y = F.pad(x.reshape(1, n * c, h, w), (rad, rad, rad, rad), mode="replicate")
    k = k.repeat_interleave(c, 0)
    y = F.conv2d(y, k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(y, k.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


_IJG_LUMA = torch.tensor([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=torch.float32).view(8, 8)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float32, device=device)
    d = torch.cos((2 * k.view(1, 8) + 1) * k.view(8, 1) * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d  # orthonormal DCT-II: d @ d.T = I


def jpeg_quantize(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG's lossy step on the luma: 8x8 block DCT quantised at the IJG table scaled to
    ``quality`` (1-100, per image), then decoded. Entropy coding is lossless, so this gives
    JPEG's block and ringing artefacts; blocks start at the top-left corner, as an encoder's."""
    n, c, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    y = F.pad(x, (0, pw, 0, ph), mode="replicate") - 128
    q = quality.to(torch.float32).clamp(1, 100).reshape(n, 1, 1, 1, 1, 1)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    table = ((_IJG_LUMA.to(x.device) * scale + 50) / 100).floor().clamp(1, 255)
    H, W = h + ph, w + pw
    b = y.reshape(n, c, H // 8, 8, W // 8, 8).permute(0, 1, 2, 4, 3, 5)  # (n, c, by, bx, 8, 8)
    d = _dct_matrix(x.device).to(x)
    coef = d @ b @ d.T
    coef = (coef / table.to(x)).round() * table.to(x)
    b = d.T @ coef @ d
    y = b.permute(0, 1, 2, 4, 3, 5).reshape(n, c, H, W)[..., :h, :w] + 128
    return y.round().clamp(0, 255)


def shade(x: torch.Tensor, angle: torch.Tensor, ambient: torch.Tensor, sharpness: torch.Tensor,
          centre: torch.Tensor) -> torch.Tensor:
    """Multiplicative directional light with a low ambient floor: each pixel is scaled by
    ``ambient + (1 - ambient) * clamp(0.5 + sharpness * (u - centre), 0, 1)``, ``u`` the position
    along the light's direction ``angle`` (rad) in image widths. A dark side stays a dark side of
    the same eye (the albedo's contrast shrinks there), which an additive ramp does not model."""
    n, _, h, w = x.shape
    ys = (torch.arange(h, dtype=x.dtype, device=x.device) - (h - 1) / 2).view(1, 1, h, 1) / w
    xs = (torch.arange(w, dtype=x.dtype, device=x.device) - (w - 1) / 2).view(1, 1, 1, w) / w

    def v(t: torch.Tensor) -> torch.Tensor:
        return t.to(x).reshape(n, 1, 1, 1)

    u = torch.cos(v(angle)) * xs + torch.sin(v(angle)) * ys
    lit = (0.5 + v(sharpness) * (u - v(centre))).clamp(0, 1)
    return (x * (v(ambient) + (1 - v(ambient)) * lit)).clamp(0, 255)


def _jitter_geometry(x: torch.Tensor, masks: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale (0.85-1.2) and shift (+-8% of each side) of image and masks together, as a
    crop box off by a few pixels; borders replicate (skin continues past a crop's edge)."""
    n, _, h, w = x.shape
    r = torch.rand(n, 3, generator=gen).to(x.device)
    s = 0.85 + 0.35 * r[:, 0]
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = 1 / s
    theta[:, 1, 1] = 1 / s
    theta[:, 0, 2] = (r[:, 1] - 0.5) * 0.32
    theta[:, 1, 2] = (r[:, 2] - 0.5) * 0.32
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    m = F.grid_sample(masks.unsqueeze(1).to(x.dtype), grid, mode="nearest", padding_mode="border",
                      align_corners=False)
    return y, m.squeeze(1).round().to(masks.dtype)


def degrade_wild(x: torch.Tensor, masks: torch.Tensor, gen: torch.Generator,
                 families: tuple[str, ...] | list[str] = WILD_FAMILIES) -> tuple[torch.Tensor, torch.Tensor]:
    """Webcam-crop augmentation of float gray images in [0, 255] (N, 1, H, W) with their labels
    (N, H, W): returns new (images, labels); labels change only under ``geometry``.

    Families (any subset of :data:`WILD_FAMILIES`, applied in that order): ``albedo`` (iris
    x0.2-1, sclera greyed x0.35-1 towards mid-grey), ``geometry`` (scale/shift jitter),
    ``shading`` (directional, ambient 0.03-0.6, p = 0.85), ``gamma`` (exp(0.35 z)), ``noise``
    (before the blur, sigma 0-6), ``blur`` (Gaussian sigma 0-1.5 px), ``grain`` (after the blur,
    0-3), ``equalize`` (p = 0.8; MPIIGaze's crops are equalised), ``jpeg`` (quality 40-95, p = 0.7).
    """
    unknown = set(families) - set(WILD_FAMILIES)
    if unknown:
        raise ValueError(f"unknown augmentation families {sorted(unknown)}; known: {', '.join(WILD_FAMILIES)}")
    n = x.shape[0]
    dev = x.device

    def r(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen).to(dev)

    def coin(p: float) -> torch.Tensor:
        return (r(n) < p).view(n, 1, 1, 1)

    y = x.clone()
    if "albedo" in families:
        y = region_albedo(y, masks, 2, 0.2 + 0.8 * r(n))
        y = region_albedo(y, masks, 1, 0.35 + 0.65 * r(n), towards=90 + 60 * r(n))
    if "geometry" in families:
        y, masks = _jitter_geometry(y, masks, gen)
    if "shading" in families:
        lit = shade(y, r(n) * 2 * math.pi, 0.03 + 0.57 * r(n), 0.8 + 4.2 * r(n), (r(n) - 0.5) * 0.6)
        y = torch.where(coin(0.85), lit * (1.0 + 1.5 * r(n)).view(n, 1, 1, 1), y).clamp(0, 255)
    if "gamma" in families:
        g = torch.exp(0.35 * torch.randn(n, generator=gen).clamp(-2.5, 2.5)).to(dev).view(n, 1, 1, 1)
        y = 255 * (y / 255).clamp_min(0) ** g
    if "noise" in families:
        y = y + torch.randn(y.shape, generator=gen).to(dev) * 6 * r(n, 1, 1, 1)
    if "blur" in families:
        y = gaussian_blur(y, 1.5 * r(n))
    if "grain" in families:
        y = y + torch.randn(y.shape, generator=gen).to(dev) * 3 * r(n, 1, 1, 1)
    y = y.clamp(0, 255)
    if "equalize" in families:
        y = torch.where(coin(0.8), equalize_hist(y), y)
    if "jpeg" in families:
        y = torch.where(coin(0.7), jpeg_quantize(y, 40 + 55 * r(n)), y)
    return y.clamp(0, 255), masks


def _dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean soft Dice over the classes present in the batch (absent ones would be 0/0)."""
    p = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(p)
    inter = (p * onehot).sum((0, 2, 3))
    denom = p.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    present = onehot.sum((0, 2, 3)) > 0
    return 1 - (2 * inter[present] / denom[present].clamp_min(1e-6)).mean()


class UNetSegmenter(Segmenter):
    """A small U-Net fitted on images with masks (the renderer's), usable on real eyes.

    Args:
        width, depth: channels of the first stage and number of pooling stages.
        iterations, batch_size, lr: Adam training length, batch and learning rate.
        augment: ``wild`` (:func:`degrade_wild`, every family), ``basic`` (:func:`degrade`, the
            first version), ``none``, or a comma list of :data:`WILD_FAMILIES`.
        loss: ``ce`` (cross-entropy), ``balanced`` (class-weighted by inverse sqrt frequency in the
            training masks) or ``dice`` (cross-entropy + soft Dice).
        norm: input normalisation, the same in training and use: ``fixed`` (x / 127.5 - 1),
            ``standardize`` (per image zero mean, unit std) or ``equalize`` (per image histogram
            equalisation, then fixed).
        seed, device, progress: seed, torch device, progress bar.
    """

    needs_fit = True
    priority = 10  # far better than `threshold` on wild images (docs/method.md): the runner's auto choice
    test_params: ClassVar[dict[str, Any]] = dict(width=4, depth=2, iterations=3, batch_size=4, progress=False)

    def __init__(self, width: int = 16, depth: int = 3, iterations: int = 400, batch_size: int = 16,
                 lr: float = 2e-3, augment: str = "wild", loss: Literal["ce", "balanced", "dice"] = "dice",
                 norm: Literal["fixed", "standardize", "equalize"] = "standardize", seed: int = 0,
                 device: str = "cpu", progress: bool = True) -> None:
        if augment not in ("wild", "basic", "none"):
            unknown = {f.strip() for f in augment.split(",") if f.strip()} - set(WILD_FAMILIES)
            if unknown:
                raise ValueError(f"unet augment={augment!r}: unknown {sorted(unknown)}; use wild, basic, "
                                 f"none or a comma list of {', '.join(WILD_FAMILIES)}")
        if loss not in ("ce", "balanced", "dice"):
            raise ValueError(f"unet loss={loss!r}: use ce, balanced or dice")
        if norm not in ("fixed", "standardize", "equalize"):
            raise ValueError(f"unet norm={norm!r}: use fixed, standardize or equalize")
        self.width, self.depth, self.iterations, self.batch_size = width, depth, iterations, batch_size
        self.lr, self.augment, self.loss, self.norm = lr, augment, loss, norm
        self.seed, self.device, self.progress = seed, device, progress

    def _families(self) -> tuple[str, ...]:
        if self.augment == "wild":
            return WILD_FAMILIES
        return tuple(f.strip() for f in self.augment.split(",") if f.strip())

    @staticmethod
    def _normalize(x: torch.Tensor, norm: str) -> torch.Tensor:
        """float gray in [0, 255] -> the net's input."""
        if norm == "standardize":
            m = x.mean((1, 2, 3), keepdim=True)
            return (x - m) / x.std((1, 2, 3), keepdim=True).clamp_min(1.0)
        if norm == "equalize":
            x = equalize_hist(x)
        return x / 127.5 - 1.0

    def fit(self, data: EyeBatch) -> "UNetSegmenter":
        """Train on ``data.images`` with ``data.masks``."""
        from gazebench.progress import progress as progress_bar

        if data.masks is None:
            raise ValueError("segmenter 'unet' is trained on masks and the training data has none: "
                             "fit it on a dataset with masks (synth, toy)")
        dev = torch.device(resolve_device(self.device))
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = UNet(self.width, self.depth).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        images = to_gray(data.images)
        weight = None
        if self.loss == "balanced":
            freq = torch.bincount(data.masks.flatten().long(), minlength=4).double()
            weight = (freq.sum() / freq.clamp_min(1)).sqrt()
            weight = (weight / weight.mean()).float().to(dev)
        net.train()
        self.history_ = []
        with progress_bar(self.iterations, "training unet segmenter", self.progress) as adv:
            for _ in range(self.iterations):
                idx = torch.randint(len(images), (self.batch_size,), generator=gen)
                x = images[idx].to(dev).float()
                target = data.masks[idx].to(dev).long()
                if self.augment == "basic":
                    x = degrade(x, gen)
                elif self.augment != "none":
                    x, target = degrade_wild(x, target, gen, self._families())
                logits = net(self._normalize(x, self.norm))
                loss = F.cross_entropy(logits, target, weight=weight)
                if self.loss == "dice":
                    loss = loss + _dice_loss(logits, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                self.history_.append(float(loss.detach()))
                adv(1, loss=self.history_[-1])
        self.net_, self.norm_ = net.eval(), self.norm
        return self

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> uint8 (N, H, W) labels."""
        validate_images(images, "images")
        net = getattr(self, "net_", None)
        if net is None:
            raise ValueError("segmenter 'unet' is not fitted: call fit(batch with masks) or load(path) first")
        dev = next(net.parameters()).device
        norm = getattr(self, "norm_", self.norm)
        outs = []
        with torch.no_grad():
            for i in range(0, len(images), 128):
                x = to_gray(images[i:i + 128]).to(dev).float()
                outs.append(net(self._normalize(x, norm)).argmax(1).to(torch.uint8).cpu())
        return torch.cat(outs)

    def save(self, path: str | Path) -> None:
        """Write the trained network (and the input normalisation it was trained with)."""
        if getattr(self, "net_", None) is None:
            raise ValueError("segmenter 'unet' is not fitted: nothing to save")
        save_state(path, {"class": type(self).__qualname__, "config": dict(self.net_.config),
                          "norm": getattr(self, "norm_", self.norm),
                          "net": {k: v.cpu() for k, v in self.net_.state_dict().items()}})

    def load(self, path: str | Path) -> "UNetSegmenter":
        """Read a network written by :meth:`save`."""

        state = load_state(path)
        if state.get("class") != type(self).__qualname__:
            raise ValueError(f"checkpoint {path} holds a {state.get('class')!r}, not a UNetSegmenter")
        net = UNet(**state["config"])
        net.load_state_dict(state["net"])
        # checkpoints from before `norm` existed were trained on the fixed scaling
        self.norm_ = state.get("norm", "fixed")
        self.net_ = net.to(torch.device(resolve_device(self.device))).eval()
        return self
