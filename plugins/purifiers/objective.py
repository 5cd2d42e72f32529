"""The objectives the purifiers minimise, built on :mod:`gazebench_plugins.purifiers.losses`.

- :class:`RegionObjective`: the paper's region-level task-guided loss (the paper's eq. 10-20),
  used by ``attention`` (trained) and by ``gatys`` with ``loss="paper"`` (eq. 21), and the
  common yardstick on which ``gatys.objective`` scores any image.
- :class:`PerceptualObjective`: Johnson et al.'s perceptual loss and Gatys et al.'s loss: global
  content at some layers, global Gram style at others, total variation.
- :class:`SegmentationConsistency`: any of them plus a frozen segmenter's cross-entropy against
  the input's masks (``attention.seg_weight``; off in both presets).

Style targets are Gram matrices computed once per style batch (:meth:`style_targets`); a
target with batch size 1 (e.g. the style set's mean) is broadcast over the content batch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from gazebench_plugins.purifiers.losses import (LossNetwork, content_loss, gram_matrix, local_content_loss, paper_layers,
                              region_gram, region_maps, style_loss, total_variation)

Targets = dict[str, torch.Tensor]
#: BT.601 luma, as gazebench.types.to_gray
_LUMA = torch.tensor([0.299, 0.587, 0.114])


def _size(f: torch.Tensor) -> tuple[int, int]:
    return int(f.shape[2]), int(f.shape[3])


class RegionObjective:
    """``L = sum_l alpha l_feat^l + sum_l beta l_style^l + theta TV(O)`` (eq. 10-20).

    Content (eq. 10-12): global ``l_gc`` at ``global_content`` layers, local ``l_lc`` (error
    inside the *input's* attention maps) at ``local_content`` layers, ``l_feat = lambda_g l_gc
    + lambda_l l_lc``. Style (eq. 13-19): region Grams; ``l_ls`` compares attention-region
    Grams (output masked by the input's maps, style by its own) at ``local_style`` layers,
    ``l_gs`` background Grams (``1 - map``) at ``global_style`` layers, ``l_style = lambda_g l_gs
    + lambda_l l_ls``.

    Args:
        net: the loss network.
        regions: label sets, one per mask channel (default: the paper's pupil + iris).
        alpha, beta, tv_weight: eq. 20's weights (paper: 1e2, 1e4, theta 1e-7..1e-5).
        lambda_g, lambda_l: global/local weights (the paper gives no values: 1, 1).
        layers: role -> layer names, overriding the paper's table for ``net.arch``.
    """

    roles = ("local_content", "global_content", "local_style", "global_style")

    def __init__(self, net: LossNetwork, regions: Sequence[Sequence[int]] = ((2, 3),), *,
                 alpha: float = 1e2, beta: float = 1e4, tv_weight: float = 1e-6,
                 lambda_g: float = 1.0, lambda_l: float = 1.0,
                 layers: dict[str, Sequence[str]] | None = None) -> None:
        self.net, self.regions = net, tuple(tuple(r) for r in regions)
        self.alpha, self.beta, self.tv_weight = alpha, beta, tv_weight
        self.lambda_g, self.lambda_l = lambda_g, lambda_l
        self.layers = {r: tuple((layers or {}).get(r, paper_layers(net.arch, r))) for r in self.roles}
        for names in self.layers.values():
            net.check_layers(names)
        self.all_layers = tuple(dict.fromkeys(n for r in self.roles for n in self.layers[r]))

    def _maps(self, labels: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return region_maps(labels, self.regions, _size(f), dtype=f.dtype)

    def style_targets(self, style: torch.Tensor, style_labels: torch.Tensor) -> Targets:
        """Attention (``att:``) and background (``bkgd:``) region Grams of style images with their
        own maps."""
        with torch.no_grad():
            feats = self.net(style, self.layers["local_style"] + self.layers["global_style"])
        t: Targets = {}
        for n in self.layers["local_style"]:
            t[f"att:{n}"] = region_gram(feats[n], self._maps(style_labels, feats[n]))
        for n in self.layers["global_style"]:
            t[f"bkgd:{n}"] = region_gram(feats[n], 1.0 - self._maps(style_labels, feats[n]))
        return t

    @staticmethod
    def mean_targets(targets: Targets) -> Targets:
        """The style set's mean Grams (batch size 1), broadcast over any content batch."""
        return {k: v.mean(0, keepdim=True) for k, v in targets.items()}

    def __call__(self, out: torch.Tensor, content: torch.Tensor, content_labels: torch.Tensor,
                 targets: Targets, content_feats: dict[str, torch.Tensor] | None = None
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss of outputs ``out`` for inputs ``content`` (float RGB in [0, 255], labels
        (B, H, W)) against style ``targets``; also the parts as floats."""
        fo = self.net(out, self.all_layers)
        if content_feats is None:
            with torch.no_grad():
                content_feats = self.net(content, self.layers["local_content"] + self.layers["global_content"])
        gc = sum((content_loss(fo[n], content_feats[n]) for n in self.layers["global_content"]), out.new_zeros(()))
        lc = sum((local_content_loss(fo[n], content_feats[n], self._maps(content_labels, fo[n]))
                  for n in self.layers["local_content"]), out.new_zeros(()))
        ls = sum((style_loss(region_gram(fo[n], self._maps(content_labels, fo[n])), targets[f"att:{n}"])
                  for n in self.layers["local_style"]), out.new_zeros(()))
        gs = sum((style_loss(region_gram(fo[n], 1.0 - self._maps(content_labels, fo[n])), targets[f"bkgd:{n}"])
                  for n in self.layers["global_style"]), out.new_zeros(()))
        tv = total_variation(out)
        feat = self.lambda_g * gc + self.lambda_l * lc
        sty = self.lambda_g * gs + self.lambda_l * ls
        total = self.alpha * feat + self.beta * sty + self.tv_weight * tv
        parts = {"content": float(self.alpha * feat.detach()), "style": float(self.beta * sty.detach()),
                 "tv": float(self.tv_weight * tv.detach()), "total": float(total.detach())}
        return total, parts


class PerceptualObjective:
    """Global content + global Gram style + TV (Johnson et al.; Gatys et al.).

    ``style="johnson"`` uses Johnson's normalisation (content ``1/(CHW) ||.||^2``, style
    ``||G - A||_F^2`` with ``G = F F^T / (CHW)``); ``style="gatys"`` Gatys' (``1/2 ||.||^2``
    per layer size and ``1/(4 N^2 M^2) ||G - A||^2``), i.e. eq. 11 and 14 without regions.

    Args:
        net: the loss network.
        content_layers, style_layers: tap names.
        content_weight, style_weight, tv_weight: the weights.
        normalisation: ``"johnson"`` or ``"gatys"``.
    """

    def __init__(self, net: LossNetwork, content_layers: Sequence[str], style_layers: Sequence[str], *,
                 content_weight: float, style_weight: float, tv_weight: float,
                 normalisation: str = "johnson") -> None:
        if normalisation not in ("johnson", "gatys"):
            raise ValueError(f"normalisation={normalisation!r}: expected 'johnson' or 'gatys'")
        net.check_layers(list(content_layers) + list(style_layers))
        self.net, self.content_layers, self.style_layers = net, tuple(content_layers), tuple(style_layers)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        # Johnson's MSE forms are 2x (content) and 4x (style) Gatys' halves and quarters
        self._kc, self._ks = (2.0, 4.0) if normalisation == "johnson" else (1.0, 1.0)
        self.all_layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))

    def style_targets(self, style: torch.Tensor, style_labels: torch.Tensor | None = None) -> Targets:
        with torch.no_grad():
            feats = self.net(style, self.style_layers)
        return {n: gram_matrix(feats[n]) for n in self.style_layers}

    mean_targets = staticmethod(RegionObjective.mean_targets)

    def __call__(self, out: torch.Tensor, content: torch.Tensor, content_labels: torch.Tensor | None,
                 targets: Targets, content_feats: dict[str, torch.Tensor] | None = None
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        fo = self.net(out, self.all_layers)
        if content_feats is None:
            with torch.no_grad():
                content_feats = self.net(content, self.content_layers)
        c = sum((content_loss(fo[n], content_feats[n]) for n in self.content_layers), out.new_zeros(()))
        s = sum((style_loss(gram_matrix(fo[n]), targets[n]) for n in self.style_layers), out.new_zeros(()))
        tv = total_variation(out)
        cw, sw = self.content_weight * self._kc, self.style_weight * self._ks
        total = cw * c + sw * s + self.tv_weight * tv
        return total, {"content": float(cw * c.detach()), "style": float(sw * s.detach()),
                       "tv": float(self.tv_weight * tv.detach()),
                       "total": float(total.detach())}


#: the parts a plain objective reports per step (content, style, TV, their weighted sum)
PARTS = ("content", "style", "tv", "total")


class SegmentationConsistency:
    """A base objective plus ``weight`` x the cross-entropy between a frozen segmenter's labels
    of the output and the input's region labels: semantic consistency (Hoffman et al., CyCADA,
    ICML 2018), not in the paper.

    Why (issue 12, results/cpu/gaze_axes.md): the region Grams say how each region should look,
    not where it is, and the content taps see a 36x60 eye as a 5x8 grid, so the fitted network
    draws the iris and lids near a template; a segmenter trained on the style set's own images
    and masks, and frozen, reads the output's regions, and the term is low only where the output
    puts the sclera, iris and pupil where the input's masks do.

    Args:
        base: the objective (e.g. :class:`RegionObjective`); its terms are reported as before.
        segmenter: a frozen module, gray ``(B, 1, H, W)`` in its input normalisation -> logits
            ``(B, K, H, W)`` over the label values.
        normalize: float gray in [0, 255] -> the segmenter's input (differentiable).
        weight: the term's weight.
    """

    part_keys = ("content", "style", "tv", "seg", "total")

    def __init__(self, base: "RegionObjective | PerceptualObjective", segmenter: torch.nn.Module,
                 normalize: "Callable[[torch.Tensor], torch.Tensor]", weight: float) -> None:
        self.base, self.segmenter, self.normalize, self.weight = base, segmenter, normalize, float(weight)
        self.segmenter.eval()
        for q in self.segmenter.parameters():
            q.requires_grad_(False)

    def style_targets(self, style: torch.Tensor, style_labels: torch.Tensor | None = None) -> Targets:
        return self.base.style_targets(style, style_labels)

    def mean_targets(self, targets: Targets) -> Targets:
        return self.base.mean_targets(targets)

    def segmentation_loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the segmenter's logits on ``out`` (float RGB or gray in [0, 255])
        against ``labels`` (B, H, W)."""
        gray = out if out.shape[1] == 1 else (out * _LUMA.to(out).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return F.cross_entropy(self.segmenter(self.normalize(gray)), labels.long())

    def __call__(self, out: torch.Tensor, content: torch.Tensor, content_labels: torch.Tensor,
                 targets: Targets, content_feats: dict[str, torch.Tensor] | None = None
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        total, parts = self.base(out, content, content_labels, targets, content_feats)
        seg = self.weight * self.segmentation_loss(out, content_labels)
        total = total + seg
        return total, {**parts, "seg": float(seg.detach()), "total": float(total.detach())}
