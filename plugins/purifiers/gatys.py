"""``gatys``: per-image optimisation of the output (Gatys et al.; the paper's eq. 21).

Projected L-BFGS: ``torch.optim.LBFGS`` one iteration per ``step`` (its history kept across
steps), then the image is clamped to [0, 255]: the projection onto the box after every
iteration. Tolerances are zero so every one of ``iterations`` iterations is real (torch's defaults
can stop after one evaluation). Started from white noise (uniform in [0, 255], Gatys) or from the
content image.

``loss="gatys"``: content at conv4_2 (relu4_2), Gram style at conv1_1 ... conv5_1 against the
style set's mean Grams. ``loss="paper"``: the region-level objective (eq. 10-20) against the
style set's mean region Grams (needs masks). :meth:`GatysPurifier.objective` scores any images
on the paper's objective, the yardstick of the paper's objective comparison (Fig. 4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

import torch

from gazebench.api import Purifier
from gazebench.io import load_state, save_state
from gazebench_plugins.purifiers.losses import get_loss_network, paper_layers
from gazebench.types import EyeBatch
from gazebench_plugins.purifiers.common import (autocast, check_knobs, knob_module, loss_network_of, need_masks,
                                                pick_device, progress_bar, rgb_float, to_layout, to_uint8)
from gazebench_plugins.purifiers.objective import PerceptualObjective, RegionObjective


class GatysPurifier(Purifier):
    """Per-image projected L-BFGS on Gatys' loss or on the paper's region objective.

    Args:
        iterations: L-BFGS iterations per image (paper: about 500 to converge, 400 in Table 1).
        init: ``"noise"`` (Gatys, eq. 21) or ``"content"``.
        loss: ``"gatys"`` or ``"paper"`` (module docstring).
        alpha, beta, tv_weight: content, style and TV weights (the paper's 1e2, 1e4, theta).
        regions: label sets of the mask channels for ``loss="paper"`` and :meth:`objective`.
        n_style: style images whose mean Grams are the style target.
        batch_size: images optimised jointly (1: truly per image; more shares L-BFGS' curvature
            pairs across a block, a speed trade).
        history_size: L-BFGS memory.
        loss_net, loss_weights: the loss network (``gazebench_plugins.purifiers.losses.get_loss_network``).
        seed: noise and style-subset seed; ``None`` (default): torch's global seed when used (the
            run's ``--seed``).
        device, progress: torch device, progress bar.
        dtype, channels_last, compile: speed knobs of :meth:`purify`'s optimisation: the loss
            network's forward runs under autocast to ``bfloat16``/``float16`` (``bf16``/``fp16``;
            the image and L-BFGS stay float32), in channels-last memory format (on a private copy
            of the shared loss network), and/or ``torch.compile``d.
    """

    needs_fit = True
    speed_baseline = True  # the paper's Table 1 reports speed-ups against Gatys
    param_ranges = {"iterations": (1, None), "n_style": (1, None), "batch_size": (1, None), "history_size": (1, None)}
    iteration_param: ClassVar[str] = "iterations"
    timing_params: ClassVar[dict[str, Any]] = dict(progress=False)
    test_params: ClassVar[dict[str, Any]] = dict(iterations=2, loss_weights="random", loss_net="efficientnet_lite0",
                                                 n_style=4, progress=False)

    def __init__(self, iterations: int = 500, init: str = "noise", loss: str = "gatys", alpha: float = 1e2,
                 beta: float = 1e4, tv_weight: float = 1e-6, regions: Sequence[Sequence[int]] = ((2, 3),),
                 n_style: int = 64, batch_size: int = 1, history_size: int = 100, loss_net: str = "vgg19",
                 loss_weights: str | None = None, seed: int | None = None, device: str = "cpu",
                 progress: bool = True,
                 dtype: Literal["float32", "bfloat16", "float16", "fp32", "bf16", "fp16"] = "float32",
                 channels_last: bool = False, compile: bool = False) -> None:
        check_knobs(dtype, channels_last, compile)
        self.dtype, self.channels_last, self.compile = dtype, channels_last, compile
        self.iterations, self.init, self.loss, self.alpha, self.beta = iterations, init, loss, alpha, beta
        self.tv_weight, self.regions, self.n_style, self.batch_size = tv_weight, regions, n_style, batch_size
        self.history_size, self.loss_net, self.loss_weights = history_size, loss_net, loss_weights
        self.seed, self.device, self.progress = seed, device, progress
        if init not in ("noise", "content"):
            raise ValueError(f"init={init!r}: expected 'noise' or 'content'")
        if loss not in ("gatys", "paper"):
            raise ValueError(f"loss={loss!r}: expected 'gatys' or 'paper'")
        self.needs_masks = loss == "paper"

    def describe(self) -> dict[str, Any]:
        """The record's description, plus the loss network the weights resolve to now."""
        return {**super().describe(), "loss_network": loss_network_of(self)}

    # -- objectives ------------------------------------------------------------------------------
    def _net(self) -> Any:
        return get_loss_network(self.loss_net, self.loss_weights, pick_device(self.device))

    def paper_objective(self) -> RegionObjective:
        """The paper's region-level objective with this purifier's weights."""
        return RegionObjective(self._net(), self.regions, alpha=self.alpha, beta=self.beta, tv_weight=self.tv_weight)

    def _objective(self, net: Any = None) -> Any:
        if self.loss == "paper":
            net = net if net is not None else self._net()
            return RegionObjective(net, self.regions, alpha=self.alpha, beta=self.beta, tv_weight=self.tv_weight)
        net = net if net is not None else self._net()
        return PerceptualObjective(net, paper_layers(net.arch, "gatys_content"), paper_layers(net.arch, "gatys_style"),
                                   content_weight=self.alpha, style_weight=self.beta, tv_weight=self.tv_weight,
                                   normalisation="gatys")

    def _purify_net(self) -> Any:
        """The loss network as :meth:`purify` runs it: the shared one, or (channels-last and/or
        compiled) a private version built once per purifier and network."""
        net = self._net()
        if not (self.channels_last or self.compile):
            return net
        key = (id(net), bool(self.channels_last), bool(self.compile))
        cached = getattr(self, "_knob_net", None)
        if cached is None or cached[0] != key:
            cached = (key, knob_module(net, channels_last=key[1], compile=key[2], copy=True))
            self._knob_net = cached
        return cached[1]

    def speed_variants(self) -> dict[str, dict[str, Any]]:
        """Table 1 as the paper timed it: Gatys on the VGG-19 architecture (random weights cost
        what ImageNet weights cost), then on the loss network this purifier resolves to here."""
        own = loss_network_of(self)
        own_text = own.get("error") or f"{own['arch']}, {'random' if own['weights'] == 'random' else 'pretrained'} weights"
        return {"VGG-19, random weights (same cost)": dict(loss_net="vgg19", loss_weights="random"),
                f"run's loss net: {own_text}": {}}

    def _seed(self) -> int:
        return int(torch.initial_seed()) % 2**63 if self.seed is None else int(self.seed)

    def fit(self, content: EyeBatch, style: EyeBatch) -> "GatysPurifier":
        """Compute the style target: mean Grams of up to ``n_style`` style images."""
        obj = self._objective()
        dev = pick_device(self.device)
        idx = torch.randperm(len(style), generator=torch.Generator().manual_seed(self._seed()))[: self.n_style]
        labels = need_masks(style, "gatys", "style")[idx].to(dev) if self.needs_masks else None
        self.targets_ = {k: v.cpu() for k, v in obj.mean_targets(
            obj.style_targets(rgb_float(style.images[idx], dev), labels)).items()}
        self.notes_ = obj.net.notes
        return self

    # -- purify ------------------------------------------------------------------------------------
    def purify(self, batch: EyeBatch) -> torch.Tensor:
        """Optimise each image (block of ``batch_size``) for ``iterations`` projected L-BFGS steps."""
        if getattr(self, "targets_", None) is None:
            raise ValueError("purifier 'gatys' is not fitted: call fit(content, style) or load(path) first")
        obj, dev = self._objective(self._purify_net()), pick_device(self.device)
        targets = {k: v.to(dev) for k, v in self.targets_.items()}
        labels = need_masks(batch, "gatys", "input") if self.needs_masks else None
        gen = torch.Generator().manual_seed(self._seed())
        outs, self.trace_ = [], []
        with progress_bar(len(batch) * self.iterations, "gatys L-BFGS", self.progress) as adv:
            for i in range(0, len(batch), self.batch_size):
                content = rgb_float(batch.images[i:i + self.batch_size], dev)
                lab = None if labels is None else labels[i:i + self.batch_size].to(dev)
                x, trace = self.optimise(obj, content, lab, targets, gen, adv)
                outs.append(to_uint8(x, batch.channels))
                self.trace_.append(trace)
        return torch.cat(outs)

    def optimise(self, obj: Any, content: torch.Tensor, labels: torch.Tensor | None, targets: dict[str, torch.Tensor],
                 gen: torch.Generator, advance: Any = None) -> tuple[torch.Tensor, list[float]]:
        """Projected L-BFGS on one block; returns the image and the objective after each iteration."""
        if self.init == "noise":
            x0 = torch.rand(content.shape, generator=gen).to(content.device) * 255.0
        else:
            x0 = content.clone()
        x = x0.requires_grad_(True)
        cl, dev = bool(self.channels_last), content.device
        content = to_layout(content, cl)
        with torch.no_grad(), autocast(dev, self.dtype):
            feats = obj.net(content, obj.all_layers)
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=self.history_size,
                                tolerance_grad=0.0, tolerance_change=0.0)
        trace: list[float] = []

        def closure() -> torch.Tensor:
            opt.zero_grad()
            # x itself stays contiguous float32: L-BFGS flattens its gradient with view(-1)
            with autocast(dev, self.dtype):
                loss, _ = obj(to_layout(x, cl), content, labels, targets, content_feats=feats)
            loss.float().backward()
            return loss.detach()

        for _ in range(self.iterations):
            trace.append(float(opt.step(closure)))
            with torch.no_grad():
                x.clamp_(0.0, 255.0)  # the projection
            if advance is not None:
                advance(content.shape[0], loss=trace[-1])
        return x.detach(), trace

    def objective(self, images: torch.Tensor, content: torch.Tensor, style: torch.Tensor,
                  masks: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The paper's objective (eq. 20) of each output image, float64 (N,).

        Args:
            images: outputs to score, uint8 or float in [0, 255], (N, C, H, W).
            content: their inputs, (N, C, H, W).
            style: style images (M, C, H, W); the target is their mean region Grams.
            masks: (content label maps (N, H, W), style label maps (M, H, W)).
        """
        obj, dev = self.paper_objective(), pick_device(self.device)
        c_lab, s_lab = masks
        targets = obj.mean_targets(obj.style_targets(rgb_float(style, dev), s_lab.to(dev)))
        vals = []
        with torch.no_grad():
            for i in range(images.shape[0]):
                val, _ = obj(rgb_float(images[i:i + 1], dev), rgb_float(content[i:i + 1], dev),
                             c_lab[i:i + 1].to(dev), targets)
                vals.append(float(val))
        return torch.tensor(vals, dtype=torch.float64)

    # -- persistence -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the style targets."""
        if getattr(self, "targets_", None) is None:
            raise ValueError("purifier 'gatys' is not fitted: nothing to save")
        save_state(path, {"class": type(self).__qualname__, "targets": self.targets_, "notes": list(self.notes_)})

    def load(self, path: str | Path) -> "GatysPurifier":
        """Read style targets written by :meth:`save`."""
        state = load_state(path)
        if state.get("class") != type(self).__qualname__:
            raise ValueError(f"checkpoint {path} holds a {state.get('class')!r}, not a GatysPurifier")
        self.targets_, self.notes_ = dict(state["targets"]), list(state["notes"])
        return self

    def record_notes(self) -> list[str]:
        notes = [f"gatys: {n}" for n in getattr(self, "notes_", [])]
        return notes + [f"gatys: {self.iterations} projected L-BFGS iterations per image from {self.init}, "
                        f"loss '{self.loss}'"]
