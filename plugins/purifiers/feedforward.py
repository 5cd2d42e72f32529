"""Trained feed-forward purifiers: ``attention`` (the paper) and ``johnson`` (the baseline).

Both share one trainer: Adam on random batches of content images, each paired with random
style images (``style_target="pair"``: the style Grams of those images, as eq. 16-19 are
written) or with the style set's mean Grams (``"mean"``: cheaper, smoother). Checkpoints are
written atomically every ``checkpoint_every`` iterations when ``checkpoint`` is set; a run that
finds its own checkpoint (same configuration and data) resumes from it.

Under an initialised process group (``torchrun ... gazebench train-purifier``) the same fit runs
data-parallel: every rank draws the same global batch and keeps its share, the loss on a share
is scaled so that DistributedDataParallel's gradient average is the global batch's gradient,
batch norm runs over the global batch, the ``mean`` style Grams are computed a share per rank
and summed, and only rank 0 writes the checkpoint. The per-sample losses (eq. 10-20 are means
over the batch of per-image terms, each image against its own paired Grams) make this exact:
N processes train the network one process trains on the same global batch, up to rounding
and dropout masks (tests/test_ddp.py).

Presets (any explicitly given parameter wins over its preset):

- ``paper``: 256x256 training images, batch 4, 50,000 iterations, Adam lr 1e-4, width 32
  (section 4.1: for a GPU).
- ``cpu`` (default): native resolution (36x60 for the default run), batch 4, an identity warm
  start of 200 steps, 300 iterations, lr 1e-3, width 16, mean style targets, and for
  ``attention`` one mask channel per region (sclera, iris, pupil) with beta 3, chosen by the
  sweep in results/cpu/sweep_attention.md, and a segmentation-consistency term (``seg_weight``
  1e4, results/cpu/sweep_consistency*.md) (``ATTENTION_WEIGHTS``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

import torch

from gazebench.api import Purifier
from gazebench.distributed import Dist, all_gather_object, all_reduce_sum, broadcast_object
from gazebench.distributed import current as current_dist
from gazebench.io import load_state, save_state
from gazebench_plugins.purifiers.losses import get_loss_network, paper_layers
from gazebench.types import EyeBatch
from gazebench_plugins.purifiers.common import (autocast, check_knobs, fingerprint, jsonable, knob_module,
                                                loss_network_of, need_masks, pick_device, progress_bar, resize_pair,
                                                rgb_float, to_layout, to_uint8)
from gazebench_plugins.purifiers.nets import AttentionTransformNet, JohnsonTransformNet
from gazebench_plugins.purifiers.objective import (PARTS, PerceptualObjective, RegionObjective,
                                                   SegmentationConsistency)

PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(iterations=50_000, batch_size=4, lr=1e-4, train_size=(256, 256), width=32, warmup=0,
                  style_target="pair", lr_schedule="constant", train_scale=None, ema=0.0),
    "cpu": dict(iterations=300, batch_size=4, lr=1e-3, train_size=None, width=16, warmup=200,
                style_target="mean", lr_schedule="constant", train_scale=None, ema=0.0),
}
#: loss weights and mask regions per preset: the paper's own for ``paper`` (one attention region,
#: pupil + iris); for ``cpu``, one mask channel per region (sclera, iris, pupil; skin is the
#: background) and the weights chosen by the sweep in results/cpu/sweep_attention.md (gap closed
#: and pupil-locator error over seeds 0, 1, 2; docs/method.md); the fit's schedule, batch, width and
#: size were swept after it (results/cpu/sweep_training.md) and none replaced the native default;
#: the segmentation-consistency weight was chosen on seeds 5-14 and judged on seeds 0-4 under a
#: rule fixed beforehand (results/cpu/sweep_consistency_rule.md)
ATTENTION_WEIGHTS = {"paper": dict(alpha=1e2, beta=1e4, tv_weight=1e-6, regions=((2, 3),), seg_weight=0.0),
                     "cpu": dict(alpha=1e2, beta=3.0, tv_weight=1e-2, regions=((1,), (2,), (3,)), seg_weight=1e4)}
JOHNSON_WEIGHTS = {"paper": dict(content_weight=1.0, style_weight=5.0, tv_weight=1e-6, seg_weight=0.0),
                   "cpu": dict(content_weight=10.0, style_weight=3.0, tv_weight=1e-4, seg_weight=0.0)}
#: Adam's learning rate over the objective's steps (the warm start always uses the constant rate)
LR_SCHEDULES = ("constant", "cosine")


def scheduled_lr(base: float, schedule: str, it: int, total: int) -> float:
    """The learning rate of step ``it`` (0-based) of ``total``: ``constant``, or ``cosine`` decay
    from ``base`` to 0 over the run (step 0 at ``base``, the last step near 0). A function of
    the step alone, so a resumed fit continues on the same curve without scheduler state."""
    if schedule == "constant" or total <= 1:
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * it / total))


def ema_decay(decay: float, step: int) -> float:
    """The weight average's decay at objective step ``step`` (0-based): ``decay``, lowered early
    on as ``(1 + step) / (10 + step)`` so that the average is not dominated by the weights it
    started from (the warm start's identity net) in a short run."""
    return min(float(decay), (1.0 + step) / (10.0 + step))


def _ema_update(avg: dict[str, torch.Tensor], net: torch.nn.Module, decay: float) -> None:
    """``avg`` <- ``decay * avg + (1 - decay) * net``, over every floating tensor of the state
    (weights and batch norm's running statistics); counters are copied."""
    with torch.no_grad():
        for key, value in net.state_dict().items():
            if value.is_floating_point():
                avg[key].mul_(decay).add_(value.detach(), alpha=1.0 - decay)
            else:
                avg[key].copy_(value)


def _scaled_size(hw: Sequence[int], scale: float) -> tuple[int, int]:
    """``(H, W)`` times ``scale``, rounded, at least 1 pixel: where ``train_scale`` trains and purifies."""
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


#: the objective's weighted terms recorded per step (``objective_trace``)
#: parameters left out of a fit's fingerprint while the switch they name is 0 (off), so that
#: checkpoints written before they existed still resume
_OFF_WHEN_ZERO = {"ema": "ema", "seg_weight": "seg_weight", "seg_iterations": "seg_weight"}
# parameters that do not change what is learned: left out of the checkpoint fingerprint
_NOT_LEARNED = ("iterations", "checkpoint", "checkpoint_every", "resume", "device", "progress", "purify_size",
                "dtype", "channels_last", "compile")


class FeedForwardPurifier(Purifier):
    """Shared trainer, purify, save/load and notes; subclasses build the net and the objective."""

    needs_fit = True
    param_ranges = {"iterations": (1, None), "batch_size": (1, None), "lr": (0.0, None), "width": (1, None),
                    "warmup": (0, None), "n_residual": (0, None), "checkpoint_every": (1, None),
                    "seg_weight": (0.0, None), "seg_iterations": (1, None)}
    # `gazebench speed`: one training step, each image at its own size (the timed resolution)
    # (the segmentation term only shapes what is learned; purify's cost is the network's alone)
    timing_params: ClassVar[dict[str, Any]] = dict(iterations=1, warmup=0, purify_size=None, train_scale=1.0,
                                                   seg_weight=0.0, progress=False)
    net_kind: ClassVar[str] = ""
    #: ``fit`` trains data-parallel under torchrun (``gazebench train-purifier``; gazebench.distributed)
    supports_ddp: ClassVar[bool] = True
    #: preset -> loss weights filled in where the parameter is ``None``
    weights: ClassVar[dict[str, dict[str, Any]]] = {}

    def describe(self) -> dict[str, Any]:
        """The record's description, plus the loss network the weights resolve to now (so a
        cache keyed on it never reuses a fit made with other weights)."""
        return {**super().describe(), "loss_network": loss_network_of(self)}

    # -- preset resolution ---------------------------------------------------------------------
    def resolved(self) -> dict[str, Any]:
        """Every parameter with ``None`` filled in from the preset."""
        if self.preset not in PRESETS:
            raise ValueError(f"preset={self.preset!r}: choose one of {', '.join(PRESETS)}")
        params = self.get_params()
        for key, value in {**PRESETS[self.preset], **self.weights.get(self.preset, {})}.items():
            if params.get(key) is None:
                params[key] = value
        if params["train_size"] is not None:
            params["train_size"] = tuple(int(v) for v in params["train_size"])
        if params["seed"] is None:
            # the run's seed: `gazebench run --seed N` seeds torch's global generator before each
            # fit, so different runs really draw different inits and batches (was always 0)
            params["seed"] = int(torch.initial_seed()) % 2**63
        if params["style_target"] not in ("pair", "mean"):
            raise ValueError(f"style_target={params['style_target']!r}: expected 'pair' or 'mean'")
        if params["train_scale"] is not None and not float(params["train_scale"]) > 0:
            raise ValueError(f"train_scale={params['train_scale']!r}: expected a positive factor or None")
        if not 0.0 <= float(params["ema"]) < 1.0:
            raise ValueError(f"ema={params['ema']!r}: expected a decay in [0, 1) (0: no weight average)")
        if params["lr_schedule"] not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule={params['lr_schedule']!r}: expected one of {', '.join(LR_SCHEDULES)}")
        return params

    # -- hooks for subclasses ---------------------------------------------------------------------
    def _make_net(self, p: dict[str, Any]) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _make_objective(self, p: dict[str, Any], net: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _mask_input(self, labels: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        return None

    def _with_consistency(self, p: dict[str, Any], objective: Any, style: EyeBatch, style_labels: Any,
                          content_masks: Any, dev: torch.device, show: bool) -> Any:
        """The objective the fit minimises: ``objective``, plus the segmentation-consistency term
        when ``seg_weight`` > 0 (its segmenter fitted here on the style set)."""
        self.seg_fit_ = None
        if not p.get("seg_weight"):
            return objective
        if style_labels is None or content_masks is None:
            raise ValueError(f"{self.name or self.net_kind} seg_weight={p['seg_weight']:g} needs region masks on the "
                             "content and style images (the term compares the output's regions with the "
                             "content's): use datasets with masks, or set seg_weight=0")
        # plugins may use each other; the core never names one
        from gazebench_plugins.segmenters.unet import UNetSegmenter

        # the judge of "where are the regions" is fitted on the style domain only: the purified
        # output should be segmentable as a style image is, with the input's regions (at the
        # style images' own size; a fully convolutional net, it reads a train_size output too)
        seg = UNetSegmenter(iterations=int(p["seg_iterations"]), augment="none", seed=int(p["seed"]) % 2**31,
                            device=str(dev), progress=show)
        seg.fit(EyeBatch(images=style.images, masks=style_labels))
        norm = seg.norm_
        self.seg_fit_ = {"iterations": int(p["seg_iterations"]), "final_loss": seg.history_[-1]}
        return SegmentationConsistency(objective, seg.net_, lambda g: UNetSegmenter._normalize(g, norm),
                                       p["seg_weight"])

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, content: EyeBatch, style: EyeBatch) -> "FeedForwardPurifier":
        """Train the transformation network to purify ``content`` images into ``style``'s style."""
        p = self.resolved()
        size_scale = p["train_scale"]
        if p["train_size"] is None and size_scale is not None and float(size_scale) != 1.0:
            # a size relative to the content's: the loss network's deep taps (/8, /16) see a 36x60
            # eye as a 5x8 / 2x4 grid; at twice the size they resolve its parts (the paper: 256x256)
            p["train_size"] = _scaled_size(content.images.shape[-2:], float(size_scale))
        else:
            size_scale = None
        dev = pick_device(self.device)
        # under torchrun: DistributedDataParallel over the default process group (gazebench.distributed)
        d = current_dist()
        if d.enabled and p["batch_size"] < d.world:
            raise ValueError(f"batch_size={p['batch_size']} is smaller than the {d.world} processes: each process "
                             "needs at least one image of the global batch; raise batch_size or start fewer")
        c_lab = need_masks(content, self.name or self.net_kind, "content") if self.needs_masks else content.masks
        s_lab = need_masks(style, self.name or self.net_kind, "style") if self.needs_masks else style.masks
        loss_net = get_loss_network(p["loss_net"], p["loss_weights"], dev)
        objective = self._with_consistency(p, self._make_objective(p, loss_net), style, s_lab, c_lab, dev,
                                           p["progress"] and d.is_main)
        keys = tuple(getattr(objective, "part_keys", PARTS))
        torch.manual_seed(p["seed"])
        net = self._make_net(p).to(dev)
        model = net  # what the training steps call: ``net`` itself, or ``net`` in DDP
        if d.enabled:
            from gazebench.distributed import sync_batch_norm, wrap_ddp

            # batch norm over the global batch, as one process computes it (a per-rank batch of
            # 4 / N images would be another network)
            net = sync_batch_norm(net, dev)
            model = wrap_ddp(net, dev)
            # dropout: each rank its own stream, as one process draws a new mask per image
            torch.manual_seed(_rank_seed(p["seed"], d.rank))
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
        gen = torch.Generator().manual_seed(p["seed"])
        # under a decaying schedule the run's length changes every step's rate: it is then learned
        config = {k: v for k, v in jsonable(p).items()
                  if (k not in _NOT_LEARNED or (k == "iterations" and p["lr_schedule"] != "constant"))
                  and not (k in _OFF_WHEN_ZERO and not p[_OFF_WHEN_ZERO[k]])}  # off: older checkpoints resume
        config["loss_network"] = loss_net.notes
        fp = fingerprint(config, content.images, style.images)
        if d.enabled and len(set(all_gather_object(fp))) != 1:
            raise ValueError("the training processes hold different data or configurations (their fingerprints "
                             "differ): every rank must load the same content and style images")
        history: list[float] = []
        parts_history: list[list[float]] = []  # per step: content, style, tv, total (weighted)
        start = 0
        ckpt = Path(p["checkpoint"]) if p["checkpoint"] else None
        state: Any = None
        ema_state: dict[str, torch.Tensor] | None = None
        if ckpt is not None and p["resume"]:
            # rank 0 reads (other nodes may not see its disk) and sends it to the others; a read
            # error travels too, so that every rank stops instead of waiting on the others
            state = broadcast_object(_read_checkpoint(ckpt) if d.is_main else None)
            if isinstance(state, Exception):
                raise state
        if state is not None:
            if state.get("fingerprint") != fp:
                raise ValueError(f"checkpoint {ckpt} was written for another configuration or data; "
                                 "delete it, choose another path, or pass resume=False")
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["optim"])
            gen.set_state(state["rng"])
            _restore_rng(state, d, dev, p["seed"])  # dropout draws from the global generator
            start, history = int(state["iteration"]), [float(v) for v in state["history"]]
            if start > p["iterations"]:
                # the checkpoint's net is trained further than asked: labelling it with the shorter
                # count would misreport what was fitted
                raise ValueError(f"checkpoint {ckpt} holds {start} iterations, more than the {p['iterations']} "
                                 f"asked for; ask for at least {start}, delete it, or pass resume=False")
            parts_history = state["parts"].tolist() if "parts" in state else []
            ema_state = state.get("ema")

        mean_targets = None
        if p["style_target"] == "mean":
            # its own generator: a resumed run must draw the same style subset
            idx = torch.randperm(len(style), generator=torch.Generator().manual_seed(p["seed"]))[:64]
            # distributed: each rank the Grams of its share of the subset, summed over ranks (the
            # mean of per-image Grams is linear in them, so this is the one-process mean)
            split = d.enabled and len(idx) >= d.world
            own = idx[d.shard(len(idx))] if split else idx
            s_img, s_l = resize_pair(rgb_float(style.images[own], dev), None if s_lab is None else s_lab[own].to(dev),
                                     p["train_size"])
            grams = objective.style_targets(s_img, s_l)
            if split:
                mean_targets = {k: all_reduce_sum(grams[k].sum(0, keepdim=True)) / len(idx) for k in sorted(grams)}
            else:
                mean_targets = objective.mean_targets(grams)

        # a fixed probe batch (own generator: training draws are unchanged) on which the objective
        # of "return the input" and of the final network are compared: a net that scores worse
        # than the identity has learned a smoother, not a style (issue 12)
        pi = torch.randperm(len(content), generator=torch.Generator().manual_seed(p["seed"] + 1))[:16]
        px, pxl = resize_pair(rgb_float(content.images[pi], dev), None if c_lab is None else c_lab[pi].to(dev),
                              p["train_size"])
        if mean_targets is not None:
            p_targets = mean_targets
        else:
            ps = torch.randperm(len(style), generator=torch.Generator().manual_seed(p["seed"] + 2))[:len(pi)]
            p_targets = objective.style_targets(*resize_pair(rgb_float(style.images[ps], dev),
                                                              None if s_lab is None else s_lab[ps].to(dev),
                                                              p["train_size"]))
        with torch.no_grad():
            identity_parts = objective(px, px, pxl, p_targets)[1]

        def save(it: int) -> None:
            # every rank's dropout generator (a collective: all ranks call save), one writer
            rng_ranks = all_gather_object(_rng_state(dev))
            if not d.is_main:
                return
            save_state(ckpt, {"fingerprint": fp, "iteration": it, "net": net.state_dict(),
                              "optim": opt.state_dict(), "rng": gen.get_state(),
                              "torch_rng": torch.get_rng_state(), "rng_ranks": rng_ranks,
                              "history": torch.tensor(history, dtype=torch.float64),
                              "parts": torch.tensor(parts_history, dtype=torch.float64).view(-1, len(keys)),
                              **({"ema": avg} if avg is not None else {})})

        # the mask channels this fit uses (the warm start and purify read them)
        self.regions_ = [list(r) for r in p["regions"]] if self.needs_masks else []
        net.train()
        t0 = time.perf_counter()
        if start == 0 and p["warmup"]:
            self._warmup(model, p, content.images, c_lab, gen, dev, d)
        # the weight average (``ema`` > 0) starts from the weights the objective's steps start
        # from; every rank holds the same weights, so the same average
        avg: dict[str, torch.Tensor] | None = None
        if p["ema"]:
            avg = ({k: v.to(dev) for k, v in ema_state.items()} if ema_state is not None and start
                   else {k: v.detach().clone() for k, v in net.state_dict().items()})
        # every rank draws the same global batch from the same generator and keeps its share
        share, scale = d.shard(p["batch_size"]), d.loss_scale(p["batch_size"])
        with progress_bar(p["iterations"] - start, f"training {self.name or self.net_kind}",
                          p["progress"] and d.is_main) as adv:
            for it in range(start, p["iterations"]):
                ci = torch.randint(len(content), (p["batch_size"],), generator=gen)
                si = torch.randint(len(style), (p["batch_size"],), generator=gen)
                if d.enabled:
                    ci, si = ci[share], si[share]
                x, xl = resize_pair(rgb_float(content.images[ci], dev),
                                    None if c_lab is None else c_lab[ci].to(dev), p["train_size"])
                if mean_targets is None:
                    s, sl = resize_pair(rgb_float(style.images[si], dev),
                                        None if s_lab is None else s_lab[si].to(dev), p["train_size"])
                    targets = objective.style_targets(s, sl)
                else:
                    targets = mean_targets
                for group in opt.param_groups:
                    group["lr"] = scheduled_lr(p["lr"], p["lr_schedule"], it, p["iterations"])
                out = model(x, self._mask_input(xl, x.dtype))
                loss, parts = objective(out, x, xl, targets)
                opt.zero_grad(set_to_none=True)
                (loss * scale if d.enabled else loss).backward()
                opt.step()
                if avg is not None:
                    _ema_update(avg, net, ema_decay(p["ema"], it))
                if d.enabled:
                    parts = _global_parts(parts, scale / d.world, dev, keys)
                history.append(parts["total"])
                parts_history.append([parts[k] for k in keys])
                adv(1, loss=parts["total"], content=parts["content"], style=parts["style"])
                if ckpt is not None and (it + 1) % p["checkpoint_every"] == 0:
                    save(it + 1)
        if ckpt is not None:
            save(p["iterations"])
        if d.enabled:
            # a plain network again (no DDP, no synchronised batch norm) with the trained weights
            plain = self._net_from_config(dict(net.config)).to(dev)
            plain.load_state_dict(net.state_dict())
            net = plain
        if avg is not None:
            # the purifier is the averaged network (the last iterate's noise averaged out)
            net.load_state_dict(avg)
        net.eval()
        with torch.no_grad():
            final_parts = objective(net(px, self._mask_input(pxl, px.dtype)), px, pxl, p_targets)[1]
        self.net_ = net
        self.history_ = history
        self.parts_ = parts_history
        self.part_keys_ = list(keys)
        self.probe_ = {"identity": identity_parts, "final": final_parts, "n_images": len(pi)}
        self.train_size_ = list(p["train_size"]) if p["train_size"] else None
        self.train_scale_ = float(size_scale) if size_scale is not None else None
        self.loss_notes_ = loss_net.notes
        self.fit_info_ = {"iterations": p["iterations"], "resumed_from": start, "seconds": time.perf_counter() - t0,
                          "final_loss": history[-1] if history else None, "fingerprint": fp}
        if d.enabled:
            self.fit_info_.update(processes=d.world, backend=d.backend)
        if getattr(self, "seg_fit_", None):
            self.fit_info_["segmenter"] = self.seg_fit_
        return self

    def objective_curve(self) -> list[list[float]] | None:
        """The training objective per Adam step, thinned to at most 400 points (the last kept)."""
        history = getattr(self, "history_", None)
        if not history:
            return None
        step = max(1, -(-len(history) // 400))
        keep = list(range(0, len(history), step))
        if keep[-1] != len(history) - 1:
            keep.append(len(history) - 1)
        return [[i + 1, float(history[i])] for i in keep]

    def _warmup(self, net: torch.nn.Module, p: dict[str, Any], images: torch.Tensor, labels: torch.Tensor | None,
                gen: torch.Generator, dev: torch.device, d: Dist | None = None) -> None:
        """Identity warm start: ``warmup`` Adam steps teaching the network to return its input
        (pixel MSE), so the objective's optimisation starts from "change nothing" rather than
        from noise. Not in the paper (which trains 50k iterations from scratch); the CPU preset
        uses it because a few hundred iterations cannot learn the identity from deep features.
        Distributed (``d``): as the training steps, each rank its share of the global batch."""
        d = d or Dist()
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
        share, scale = d.shard(p["batch_size"]), d.loss_scale(p["batch_size"])
        with progress_bar(p["warmup"], "identity warm start", p["progress"] and d.is_main) as adv:
            for _ in range(p["warmup"]):
                ci = torch.randint(len(images), (p["batch_size"],), generator=gen)
                if d.enabled:
                    ci = ci[share]
                x, xl = resize_pair(rgb_float(images[ci], dev), None if labels is None else labels[ci].to(dev),
                                    p["train_size"])
                loss = torch.nn.functional.mse_loss(net(x, self._mask_input(xl, x.dtype)) / 255.0, x / 255.0)
                opt.zero_grad(set_to_none=True)
                (loss * scale if d.enabled else loss).backward()
                opt.step()
                adv(1, mse=float(loss.detach()))

    # -- purify ------------------------------------------------------------------------------------
    def purify(self, batch: EyeBatch) -> torch.Tensor:
        """Purified uint8 images of ``batch.images``' shape (any resolution, gray or RGB)."""
        net = getattr(self, "net_", None)
        if net is None:
            raise ValueError(f"purifier {self.name or self.net_kind!r} is not fitted: call fit(content, style) "
                             "or load(path) first")
        labels = need_masks(batch, self.name or self.net_kind, "input") if self.needs_masks else None
        dev = next(net.parameters()).device
        work = getattr(self, "train_size_", None) if self.purify_size == "train" else self.purify_size
        if self.purify_size == "train" and getattr(self, "train_scale_", None):
            # trained at a multiple of the content's size: each input at the same multiple of its own
            work = _scaled_size(batch.images.shape[-2:], self.train_scale_)
        run, cl = self._inference_net(), bool(self.channels_last)
        outs = []
        with torch.no_grad():
            for i in range(0, len(batch), 64):
                x = rgb_float(batch.images[i:i + 64], dev)
                lab = None if labels is None else labels[i:i + 64].to(dev)
                xs, ls = resize_pair(x, lab, tuple(work) if work else None)
                with autocast(dev, self.dtype):
                    y = run(to_layout(xs, cl), None if ls is None else to_layout(self._mask_input(ls, x.dtype), cl))
                y, _ = resize_pair(y.float().contiguous(), None, tuple(x.shape[-2:]))
                outs.append(to_uint8(y, batch.channels))
        return torch.cat(outs)

    def _inference_net(self) -> torch.nn.Module:
        """The fitted net as ``purify`` runs it: channels-last and/or compiled when asked (built
        once per fitted net; the speed knobs apply to inference only, ``fit`` trains in fp32)."""
        key = (id(self.net_), bool(self.channels_last), bool(self.compile))
        cached = getattr(self, "_inference", None)
        if cached is None or cached[0] != key:
            cached = (key, knob_module(self.net_, channels_last=key[1], compile=key[2]))
            self._inference = cached
        return cached[1]

    # -- persistence and records -------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the trained network, its architecture and what it was trained with."""
        if getattr(self, "net_", None) is None:
            raise ValueError(f"purifier {self.name or self.net_kind!r} is not fitted: nothing to save")
        save_state(path, {"class": type(self).__qualname__, "params": jsonable(self.get_params()),
                          "net_config": dict(self.net_.config), "regions": self.regions_,
                          "net": {k: v.cpu() for k, v in self.net_.state_dict().items()},
                          "train_size": self.train_size_, "train_scale": getattr(self, "train_scale_", None),
                          "notes": list(self.loss_notes_), "fit_info": jsonable(self.fit_info_),
                          "history": torch.tensor(self.history_, dtype=torch.float64),
                          "parts": torch.tensor(self.parts_, dtype=torch.float64).view(-1, len(self._part_keys())),
                          "part_keys": self._part_keys(),
                          "probe": jsonable(self.probe_)})

    def load(self, path: str | Path) -> "FeedForwardPurifier":
        """Read a network written by :meth:`save` (its architecture comes from the file)."""
        state = load_state(path)
        if state.get("class") != type(self).__qualname__:
            raise ValueError(f"checkpoint {path} holds a {state.get('class')!r}, not a {type(self).__qualname__}")
        net = self._net_from_config(state["net_config"])
        net.load_state_dict(state["net"])
        self.net_ = net.to(pick_device(self.device)).eval()
        self.regions_ = [list(r) for r in state["regions"]]
        self.train_size_ = state["train_size"]
        self.train_scale_ = state.get("train_scale")  # files written before train_scale: None
        self.loss_notes_ = list(state["notes"])
        self.fit_info_ = dict(state["fit_info"])
        self.history_ = state["history"].tolist()
        self.parts_ = state["parts"].tolist() if "parts" in state else []
        self.part_keys_ = list(state.get("part_keys", PARTS))  # files written before "seg": the plain terms
        self.probe_ = dict(state.get("probe") or {})
        return self

    def objective_trace(self, max_points: int = 100) -> dict[str, Any] | None:
        """The weighted objective terms per training step (at most ``max_points`` evenly spaced
        steps, 1-based), and on a fixed probe batch those of returning the input (``identity``)
        and of the final network (``final``): what a record's purifier stats show."""
        parts = getattr(self, "parts_", None)
        if not parts:
            return None
        n = len(parts)
        idx = sorted({round(i * (n - 1) / max(1, max_points - 1)) for i in range(min(n, max_points))})
        out: dict[str, Any] = {"step": [i + 1 for i in idx]}
        for j, k in enumerate(self._part_keys()):
            out[k] = [parts[i][j] for i in idx]
        out["probe"] = getattr(self, "probe_", {})
        return out

    def _part_keys(self) -> list[str]:
        """The names of the per-step terms in ``parts_`` (column order)."""
        return list(getattr(self, "part_keys_", None) or PARTS)

    def _net_from_config(self, config: dict[str, Any]) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def record_notes(self) -> list[str]:
        """What a record should say: the loss network and weights, the training actually done."""
        if getattr(self, "net_", None) is None:
            return []
        p, info = self.resolved(), self.fit_info_
        size = "x".join(map(str, self.train_size_)) if self.train_size_ else "native size"
        if getattr(self, "train_scale_", None):
            size = f"{self.train_scale_:g}x the images' size ({size})"
        loss = f"{info['final_loss']:.4g}" if info.get("final_loss") is not None else "n/a"
        ddp = (f", data-parallel over {info['processes']} processes ({info.get('backend')})"
               if info.get("processes", 1) > 1 else "")
        rate = f"lr {p['lr']:g}" + (", cosine decay" if p["lr_schedule"] == "cosine" else "")
        if p["ema"]:
            rate += f", weight average decay {p['ema']:g}"
        if p.get("seg_weight"):
            rate += (f", segmentation consistency x{p['seg_weight']:g} (U-Net fitted on the style set, "
                     f"{p['seg_iterations']} steps)")
        return [f"{self.name or self.net_kind}: {note}" for note in self.loss_notes_] + [
            f"{self.name or self.net_kind}: preset {p['preset']}, {info['iterations']} Adam iterations "
            f"({rate}, batch {p['batch_size']}, {size}, style targets '{p['style_target']}'), "
            f"final loss {loss}{ddp}"]


def _rank_seed(seed: int, rank: int, iteration: int = 0) -> int:
    """A seed for rank ``rank``'s dropout stream, distinct per rank and resume point."""
    return (int(seed) * 1_000_003 + iteration * 7_919 + rank + 1) % 2**63


def _rng_state(dev: torch.device) -> dict[str, torch.Tensor]:
    """This process's global generators: the CPU's and, on CUDA, the device's."""
    state = {"cpu": torch.get_rng_state()}
    if dev.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(dev)
    return state


def _restore_rng(state: dict[str, Any], d: Dist, dev: torch.device, seed: int) -> None:
    """Put back this rank's generators from a checkpoint; a checkpoint written by another number
    of processes gives each rank a fresh stream (the weights, Adam state and batch draws resume
    exactly; only dropout masks differ)."""
    ranks = state.get("rng_ranks")
    if ranks is not None and len(ranks) == d.world:
        torch.set_rng_state(ranks[d.rank]["cpu"])
        if dev.type == "cuda" and "cuda" in ranks[d.rank]:
            torch.cuda.set_rng_state(ranks[d.rank]["cuda"], dev)
    elif not d.enabled:
        torch.set_rng_state(state["torch_rng"])
    else:
        torch.manual_seed(_rank_seed(seed, d.rank, int(state["iteration"])))


def _read_checkpoint(path: Path) -> dict[str, Any] | Exception | None:
    """The training checkpoint at ``path``, ``None`` when there is none, or the error reading it."""
    if not path.is_file():
        return None
    try:
        return load_state(path)
    except (ValueError, FileNotFoundError) as exc:
        return exc


def _global_parts(parts: dict[str, float], weight: float, dev: torch.device,
                  keys: Sequence[str] = PARTS) -> dict[str, float]:
    """The objective's terms over the global batch: each rank's share-mean weighted by its share
    of the batch (``weight``), summed over ranks."""
    t = all_reduce_sum(torch.tensor([parts[k] * weight for k in keys], dtype=torch.float64, device=dev))
    return dict(zip(keys, t.tolist()))


class AttentionPurifier(FeedForwardPurifier):
    """The paper's attention-guided transformation network trained on the region-level loss.

    Args:
        preset: ``"cpu"`` (default) or ``"paper"``; fills every ``None`` below.
        iterations, batch_size, lr, train_size, width: training length, batch, Adam learning
            rate, (H, W) training images are resized to (``None``: as given), network width.
        train_scale: with ``train_size`` ``None``, train at this multiple of the content images'
            size and purify each image at the same multiple of its own (2: 36x60 eyes train at
            72x120); ``None`` (both presets) or 1: native.
        lr_schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over ``iterations``); ``None``:
            the preset's.
        ema: decay of an exponential moving average of the weights over the objective's steps
            (``ema_decay``); the average is the fitted network. 0 (both presets): the last iterate.
        warmup: identity warm-start steps before the objective (``_warmup``; paper preset 0).
        n_residual: residual blocks (the paper: 4). dropout: inside residual blocks.
        regions: label sets, one mask channel each; ``None``: the preset's (``cpu``: sclera, iris,
            pupil as three channels, ``[[1], [2], [3]]``; ``paper``: pupil + iris, ``[[2, 3]]``).
        alpha, beta, tv_weight: eq. 20 weights; ``None``: the preset's (``paper``: the paper's 1e2,
            1e4, 1e-6; ``cpu``: 1e2, 3, 1e-2, see ``ATTENTION_WEIGHTS``).
        lambda_g, lambda_l: global/local weights of eq. 10 and 13 (the paper gives no values).
        layers: role -> tap names, overriding the paper's table (see ``gazebench_plugins.purifiers.losses``).
        style_target: ``"pair"`` or ``"mean"`` (module docstring); ``None``: the preset's.
        seg_weight: weight of a segmentation-consistency term, not in the paper
            (:class:`~gazebench_plugins.purifiers.objective.SegmentationConsistency`): a small U-Net
            fitted on the style set's images and masks (``seg_iterations`` Adam steps, no
            augmentation), then frozen, reads the output's regions, and its cross-entropy against
            the input's masks is added to eq. 20. ``None``: the preset's (``cpu``: 1e4, chosen
            on seeds 5-14 and judged on 0-4, results/cpu/sweep_consistency*.md; ``paper``: 0, off).
        loss_net, loss_weights: the loss network (``gazebench_plugins.purifiers.losses.get_loss_network``).
        purify_size: (H, W) images are brought to for purifying and back; ``"train"`` (default):
            the training size when there was one (the paper trains and runs at 256x256), so the
            network sees eyes at the scale it learned; ``None``: each image's own size.
        checkpoint, checkpoint_every, resume: where and how often to checkpoint; resume from it.
        seed: initialisation and batch seed; ``None`` (default): torch's global seed at fit time,
            which ``gazebench run --seed N`` sets, so each run seed gives its own network.
        device, progress: torch device (``auto``), show a progress bar.
        dtype, channels_last, compile: how :meth:`purify` runs the trained net (speed knobs;
            training is unchanged): autocast to ``bfloat16``/``float16`` (``bf16``/``fp16``),
            channels-last memory format, ``torch.compile`` (first call per image size: seconds).
    """

    needs_masks = True
    net_kind = "attention"
    weights = ATTENTION_WEIGHTS
    test_params: ClassVar[dict[str, Any]] = dict(iterations=2, warmup=2, width=4, n_residual=1, batch_size=2,
                                                 seg_iterations=2, loss_weights="random",
                                                 loss_net="efficientnet_lite0", progress=False)

    def __init__(self, preset: str = "cpu", iterations: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, train_size: Sequence[int] | None = None, width: int | None = None,
                 lr_schedule: str | None = None, train_scale: float | None = None, ema: float | None = None,
                 warmup: int | None = None, n_residual: int = 4, dropout: float = 0.1,
                 regions: Sequence[Sequence[int]] | None = None,
                 alpha: float | None = None, beta: float | None = None, tv_weight: float | None = None,
                 lambda_g: float = 1.0, lambda_l: float = 1.0, layers: dict[str, Sequence[str]] | None = None,
                 style_target: str | None = None, seg_weight: float | None = None, seg_iterations: int = 200,
                 loss_net: str = "vgg19", loss_weights: str | None = None,
                 purify_size: Any = "train", checkpoint: str | None = None, checkpoint_every: int = 500,
                 resume: bool = True, seed: int | None = None, device: str = "cpu", progress: bool = True,
                 dtype: Literal["float32", "bfloat16", "float16", "fp32", "bf16", "fp16"] = "float32",
                 channels_last: bool = False, compile: bool = False) -> None:
        check_knobs(dtype, channels_last, compile)
        self.seg_weight, self.seg_iterations = seg_weight, seg_iterations
        self.dtype, self.channels_last, self.compile = dtype, channels_last, compile
        self.preset, self.iterations, self.batch_size, self.lr = preset, iterations, batch_size, lr
        self.lr_schedule, self.train_scale, self.ema = lr_schedule, train_scale, ema
        self.train_size, self.width, self.n_residual, self.dropout = train_size, width, n_residual, dropout
        self.purify_size, self.warmup = purify_size, warmup
        self.regions, self.alpha, self.beta, self.tv_weight = regions, alpha, beta, tv_weight
        self.lambda_g, self.lambda_l, self.layers, self.style_target = lambda_g, lambda_l, layers, style_target
        self.loss_net, self.loss_weights, self.checkpoint = loss_net, loss_weights, checkpoint
        self.checkpoint_every, self.resume, self.seed = checkpoint_every, resume, seed
        self.device, self.progress = device, progress

    def _make_net(self, p: dict[str, Any]) -> torch.nn.Module:
        return AttentionTransformNet(mask_channels=len(p["regions"]), width=p["width"],
                                     mask_width=max(1, p["width"] // 2), n_residual=p["n_residual"],
                                     dropout=p["dropout"])

    def _net_from_config(self, config: dict[str, Any]) -> torch.nn.Module:
        return AttentionTransformNet(**config)

    def _make_objective(self, p: dict[str, Any], net: Any) -> RegionObjective:
        return RegionObjective(net, p["regions"], alpha=p["alpha"], beta=p["beta"], tv_weight=p["tv_weight"],
                               lambda_g=p["lambda_g"], lambda_l=p["lambda_l"], layers=p["layers"])

    def _mask_input(self, labels: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        from gazebench_plugins.purifiers.losses import region_maps

        regions = getattr(self, "regions_", None) or self.resolved()["regions"]
        return region_maps(labels, regions, dtype=dtype)


class JohnsonPurifier(FeedForwardPurifier):
    """Johnson et al.'s transformation network (5 residual blocks) on the VGG-16 perceptual loss.

    Args: as :class:`AttentionPurifier` where shared; ``content_weight`` / ``style_weight`` /
    ``tv_weight`` (``None``: the preset's, ``JOHNSON_WEIGHTS``; ``paper``: Johnson's code's
    defaults 1, 5, 1e-6) apply to content at relu2_2 and style at relu1_2, relu2_2, relu3_3,
    relu4_3 (``content_layers`` / ``style_layers`` to override). The network takes no masks;
    ``seg_weight`` / ``seg_iterations`` add the segmentation-consistency term as for
    ``attention`` (off in both presets; it then needs masks on the content and style images at
    training time only). ``dtype``, ``channels_last``, ``compile``: the speed knobs of
    :meth:`purify`, as for ``attention``.
    """

    net_kind = "johnson"
    weights = JOHNSON_WEIGHTS
    speed_baseline = True  # the paper's Table 1 compares against Johnson's network
    test_params: ClassVar[dict[str, Any]] = dict(iterations=2, warmup=2, width=4, n_residual=1, batch_size=2,
                                                 loss_weights="random", loss_net="efficientnet_lite0",
                                                 progress=False)

    def __init__(self, preset: str = "cpu", iterations: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, train_size: Sequence[int] | None = None, width: int | None = None,
                 lr_schedule: str | None = None, train_scale: float | None = None, ema: float | None = None,
                 warmup: int | None = None, n_residual: int = 5, content_weight: float | None = None,
                 style_weight: float | None = None, tv_weight: float | None = None,
                 content_layers: Sequence[str] | None = None, style_layers: Sequence[str] | None = None,
                 style_target: str | None = None, seg_weight: float | None = None, seg_iterations: int = 200,
                 loss_net: str = "vgg16", loss_weights: str | None = None, purify_size: Any = "train",
                 checkpoint: str | None = None, checkpoint_every: int = 500, resume: bool = True,
                 seed: int | None = None, device: str = "cpu", progress: bool = True,
                 dtype: Literal["float32", "bfloat16", "float16", "fp32", "bf16", "fp16"] = "float32",
                 channels_last: bool = False, compile: bool = False) -> None:
        check_knobs(dtype, channels_last, compile)
        self.dtype, self.channels_last, self.compile = dtype, channels_last, compile
        self.preset, self.iterations, self.batch_size, self.lr = preset, iterations, batch_size, lr
        self.lr_schedule, self.train_scale, self.ema = lr_schedule, train_scale, ema
        self.train_size, self.width, self.n_residual, self.purify_size = train_size, width, n_residual, purify_size
        self.warmup = warmup
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.content_layers, self.style_layers, self.style_target = content_layers, style_layers, style_target
        self.seg_weight, self.seg_iterations = seg_weight, seg_iterations
        self.loss_net, self.loss_weights, self.checkpoint = loss_net, loss_weights, checkpoint
        self.checkpoint_every, self.resume, self.seed = checkpoint_every, resume, seed
        self.device, self.progress = device, progress

    def _make_net(self, p: dict[str, Any]) -> torch.nn.Module:
        return JohnsonTransformNet(width=p["width"], n_residual=p["n_residual"])

    def _net_from_config(self, config: dict[str, Any]) -> torch.nn.Module:
        return JohnsonTransformNet(**config)

    def _make_objective(self, p: dict[str, Any], net: Any) -> PerceptualObjective:
        return PerceptualObjective(
            net, p["content_layers"] or paper_layers(net.arch, "johnson_content"),
            p["style_layers"] or paper_layers(net.arch, "johnson_style"),
            content_weight=p["content_weight"], style_weight=p["style_weight"], tv_weight=p["tv_weight"],
            normalisation="johnson")
