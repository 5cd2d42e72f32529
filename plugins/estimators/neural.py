"""The neural estimators ``cnn`` (the paper's network) and ``timm`` (any timm backbone).

Both share one training loop: gray images at ``image_size``, photometrically augmented
(:mod:`.augment`) and normalised per image (histogram equalisation by default), the Euclidean
loss ``1/2 ||out - g||^2`` on the unit gaze vector ``g``, Adam at a constant learning rate, a
seeded held-out validation split (never augmented) scored by mean angular error after every
epoch, and early stopping that restores the best epoch. The network is built and trained under its own
seed (``seed``, or one drawn from torch's global generator, which ``gazebench run --seed``
seeds), inside :func:`torch.random.fork_rng`, so the caller's random state is untouched.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from gazebench.api import Estimator
from gazebench.geometry import angular_error_deg
from gazebench.io import load_state, save_state
from gazebench.imaging import equalize as _equalize
from gazebench.progress import progress
from gazebench.types import EyeBatch

from .augment import photometric
from .features import resolve_seed
from .nets import GazeCNN, TimmGazeNet

FORMAT = "gazebench-estimators/1"
NORMALIZE = ("equalize", "image", "global")


def equalize(images: torch.Tensor) -> torch.Tensor:
    """Per-image histogram equalisation of uint8 (N, C, H, W): float32 in (0, 1], each pixel the
    fraction of its image's pixels at or below its value (MPIIGaze equalises its eye images)."""
    return _equalize(images, "fraction")


def normalise_images(images: torch.Tensor, how: str) -> torch.Tensor:
    """uint8 (N, 1, H, W) -> float32 network input.

    ``equalize``: per-image histogram equalisation mapped to about zero mean and unit variance
    (invariant to any increasing change of the intensities: gain, offset, gamma); ``image``: zero
    mean, unit variance per image (removes a global gain and offset); ``global``:
    ``(x - 127.5) / 127.5``.
    """
    if how == "equalize":
        return (equalize(images) - 0.5) * (12 ** 0.5)
    x = images.to(torch.float32)
    if how == "image":
        mean = x.mean((1, 2, 3), keepdim=True)
        std = x.std((1, 2, 3), keepdim=True).clamp_min(1.0)
        return (x - mean) / std
    return (x - 127.5) / 127.5


def resolve_precision(precision: str, device: str) -> str:
    """``auto``: bf16 autocast on a CPU where oneDNN reports bfloat16 support (AVX-512 and newer;
    1.5-2x the fp32 training speed of the paper CNN on this AVX512-BF16 machine, same errors),
    fp32 elsewhere (GPUs train these small networks fast in fp32)."""
    if precision != "auto":
        return precision
    if str(device).startswith("cpu"):
        try:
            return "bf16" if bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) else "fp32"
        except (AttributeError, RuntimeError):  # a torch build without oneDNN
            return "fp32"
    return "fp32"


class TorchEstimator(Estimator):
    """Base of the neural estimators: training loop, early stopping, device, checkpoints.

    Subclasses set the constructor parameters below (plus their own) and implement
    :meth:`_build`, which returns a fresh network taking ``(x, pose)``.
    """

    param_ranges = {"epochs": (1, None), "batch_size": (1, None), "lr": (0.0, None), "val_fraction": (0.0, 0.9),
                    "patience": (0, None), "augment": (0.0, None)}

    def _build(self, fresh: bool = True) -> nn.Module:  # pragma: no cover - abstract
        """A new network; ``fresh`` is false when a checkpoint's weights will replace its own."""
        raise NotImplementedError

    def _owner(self) -> str:
        return self.name or type(self).__name__

    @property
    def input_size(self) -> tuple[int, int]:  # type: ignore[override]
        return tuple(int(v) for v in self.image_size)  # type: ignore[return-value]

    def _validate(self) -> None:
        o = self._owner()
        if self.normalize not in NORMALIZE:
            raise ValueError(f"estimator {o!r}: normalize must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}")
        if int(self.epochs) < 1 or int(self.batch_size) < 1 or not self.lr > 0:
            raise ValueError(f"estimator {o!r}: epochs and batch_size must be >= 1 and lr > 0, "
                             f"got {self.epochs}, {self.batch_size}, {self.lr}")
        if not 0 <= float(self.val_fraction) < 1:
            raise ValueError(f"estimator {o!r}: val_fraction must lie in [0, 1), got {self.val_fraction}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"estimator {o!r}: schedule must be constant or cosine, got {self.schedule!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"estimator {o!r}: precision must be auto, fp32 or bf16, got {self.precision!r}")
        if len(tuple(self.image_size)) != 2:
            raise ValueError(f"estimator {o!r}: image_size must be [H, W], got {self.image_size!r}")

    def _tensors(self, batch: EyeBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not isinstance(batch, EyeBatch):
            raise ValueError(f"estimator {self._owner()!r} expects an EyeBatch, got {type(batch).__name__}")
        x = self.prepare(batch).images.cpu()  # uint8: normalised per batch, after any augmentation
        pose = None
        if getattr(self, "uses_head_pose_", False):
            if batch.head_pose is None:
                raise ValueError(f"estimator {self._owner()!r} was fitted with head pose but this batch has "
                                 f"none; refit with -o {self._owner()}.head_pose=false")
            pose = batch.head_pose.to(torch.float32).cpu()
        return x, pose

    def _autocast(self):
        """bfloat16 autocast when the resolved precision is bf16, else a no-op."""
        enabled = getattr(self, "precision_", "fp32") == "bf16"
        kind = str(self.device_).split(":")[0]
        return torch.autocast(kind if kind in ("cpu", "cuda", "mps") else "cpu", dtype=torch.bfloat16, enabled=enabled)

    def _forward(self, x: torch.Tensor, pose: torch.Tensor | None, chunk: int = 1024) -> torch.Tensor:
        outs = []
        for s in range(0, len(x), chunk):
            p = None if pose is None else pose[s:s + chunk].to(self.device_)
            xs = normalise_images(x[s:s + chunk], self.normalize).to(self.device_)
            with self._autocast():
                outs.append(self.net_(xs, p).float().cpu())
        return torch.cat(outs) if outs else torch.zeros(0, 3)

    def fit(self, train: EyeBatch) -> "TorchEstimator":
        from gazebench.device import resolve_device

        self._validate()
        if train.gaze is None:
            raise ValueError(f"estimator {self._owner()!r} needs a labelled training set (gaze is missing)")
        self.device_ = resolve_device(self.device)
        self.seed_ = resolve_seed(self.seed)
        self.precision_ = resolve_precision(self.precision, self.device_)
        self.uses_head_pose_ = bool(self.head_pose) and train.head_pose is not None
        x, pose = self._tensors(train)
        y = train.gaze.to(torch.float32).cpu()
        n = len(x)
        gen = torch.Generator().manual_seed(self.seed_)
        perm = torch.randperm(n, generator=gen)
        n_val = int(round(float(self.val_fraction) * n)) if n >= 10 else 0
        val, tr = perm[:n_val], perm[n_val:]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed_)
            # channels-last runs these convolutions 1.1-3x faster on the CPU (oneDNN)
            self.net_ = self._build().to(self.device_, memory_format=torch.channels_last)
            self._train(x, pose, y, tr, val, gen)
        return self

    def _train(self, x: torch.Tensor, pose: torch.Tensor | None, y: torch.Tensor, tr: torch.Tensor,
               val: torch.Tensor, gen: torch.Generator) -> None:
        net, dev, bs = self.net_, self.device_, int(self.batch_size)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr))
        steps = math.ceil(len(tr) / bs)
        sched = None
        if self.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(self.epochs) * steps)
        best, best_state, since = math.inf, None, 0
        self.history_: list[float] = []
        self.best_epoch_ = int(self.epochs)
        with progress(int(self.epochs) * steps, f"{self._owner()} training", bool(self.verbose)) as advance:
            for epoch in range(int(self.epochs)):
                net.train()
                order = tr[torch.randperm(len(tr), generator=gen)]
                for s in range(steps):
                    idx = order[s * bs:(s + 1) * bs]
                    p = None if pose is None else pose[idx].to(dev)
                    xb = photometric(x[idx], gen, float(self.augment)) if self.augment else x[idx]
                    xb = normalise_images(xb, self.normalize).to(dev)
                    with self._autocast():
                        out = net(xb, p)
                    loss = 0.5 * ((out.float() - y[idx].to(dev)) ** 2).sum(1).mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if sched is not None:
                        sched.step()
                    advance()
                if len(val) == 0:
                    continue
                net.eval()
                with torch.no_grad():
                    pred = self._forward(x[val], None if pose is None else pose[val])
                err = float(angular_error_deg(pred.double(), y[val].double()).mean())
                self.history_.append(err)
                advance(0, epoch=epoch + 1, val_deg=err, best_deg=min(best, err))
                if err < best - 1e-4:
                    best, since, self.best_epoch_ = err, 0, epoch + 1
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    since += 1
                    if since >= int(self.patience):
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()

    def predict(self, batch: EyeBatch) -> torch.Tensor:
        if not hasattr(self, "net_"):
            raise RuntimeError(f"estimator {self._owner()!r} is not fitted: call fit() first")
        x, pose = self._tensors(batch)
        self.net_.eval()
        with torch.no_grad():
            out = self._forward(x, pose).double()
        out = out / out.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return out.to(torch.float32)

    def save(self, path: str | Path) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError(f"estimator {self._owner()!r} is not fitted: call fit() first")
        save_state(path, {
            "format": FORMAT, "class": type(self).__qualname__, "params": self.get_params(),
            "uses_head_pose": self.uses_head_pose_, "seed": self.seed_, "history": list(self.history_),
            "best_epoch": self.best_epoch_, "precision": self.precision_,
            "net": {k: v.detach().cpu() for k, v in self.net_.state_dict().items()},
        })

    def load(self, path: str | Path) -> "TorchEstimator":
        from gazebench.device import resolve_device

        state = load_state(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("class") != type(self).__qualname__:
            raise ValueError(f"checkpoint {path} was not written by {type(self).__qualname__}.save()")
        self.uses_head_pose_ = bool(state["uses_head_pose"])
        self.seed_, self.history_, self.best_epoch_ = int(state["seed"]), list(state["history"]), int(state["best_epoch"])
        self.device_ = resolve_device(self.device)
        self.precision_ = str(state.get("precision", "fp32"))
        net = self._build(fresh=False)
        try:
            net.load_state_dict(state["net"])
        except RuntimeError as exc:
            raise ValueError(f"checkpoint {path} does not fit this {self._owner()!r} (saved with "
                             f"{state['params']}): {str(exc).splitlines()[0]}") from None
        self.net_ = net.to(self.device_, memory_format=torch.channels_last).eval()
        return self


class CNNEstimator(TorchEstimator):
    """The paper's gaze CNN (:class:`.nets.GazeCNN`), trained with early stopping.

    Args:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        epochs: at most this many epochs (8: under a minute on 1000 samples on 2 CPU cores;
            raise it with more data, e.g. ``-o cnn.epochs=30``).
        batch_size: 64 (the paper's 512 leaves two steps per epoch on 1000 samples).
        lr: Adam's learning rate (the paper's 1e-3).
        val_fraction: share of the training set held out for early stopping.
        patience: epochs without a better validation error before stopping.
        image_size: [H, W] the network takes, 36x60 (MPIIGaze) or 35x55 (the paper).
        head_pose: concatenate the head pose before the last layer when the data has one.
        normalize: ``equalize`` (per-image histogram equalisation, as MPIIGaze's pipeline does
            to its eye images), ``image`` (per-image standardisation) or ``global``.
        precision: ``auto`` (bf16 autocast on a CPU with fast bfloat16, else fp32), ``fp32``, ``bf16``.
        schedule: ``constant`` learning rate (the paper) or ``cosine`` decay to 0 over ``epochs``.
        augment: strength of the photometric augmentation of training images
            (:mod:`.augment`; not in the paper; 0 turns it off).
        seed: ``None``: drawn from torch's global generator.
        verbose: show a progress bar.
    """

    # fp32: bf16's one-off oneDNN kernel set-up costs seconds on a tiny run
    test_params: ClassVar[dict[str, Any]] = {"epochs": 1, "image_size": [20, 20], "verbose": False,
                                             "precision": "fp32"}

    def __init__(self, device: str = "auto", epochs: int = 8, batch_size: int = 64, lr: float = 1e-3,
                 val_fraction: float = 0.1, patience: int = 4, image_size: tuple[int, int] = (36, 60),
                 head_pose: bool = True, normalize: str = "equalize", precision: str = "auto",
                 schedule: str = "constant", augment: float = 1.0,
                 seed: int | None = None, verbose: bool = True) -> None:
        self.device, self.epochs, self.batch_size, self.lr = device, epochs, batch_size, lr
        self.val_fraction, self.patience, self.image_size = val_fraction, patience, image_size
        self.head_pose, self.normalize, self.seed, self.verbose = head_pose, normalize, seed, verbose
        self.precision, self.schedule, self.augment = precision, schedule, augment

    def _build(self, fresh: bool = True) -> nn.Module:
        return GazeCNN(self.input_size, head_pose=self.uses_head_pose_)


class TimmEstimator(TorchEstimator):
    """A timm backbone with ``in_chans=1`` and a linear head, trained like ``cnn``.

    Args:
        backbone: any timm model name (``resnet18`` by default; ``test_resnet`` is tiny).
        pretrained: load timm's cached ImageNet weights (never downloads; first conv summed to 1
            channel by timm). ``weights``: a local weights file instead.
        image_size: [H, W] fed to the backbone; small inputs work (resnet18 at 36x60 ends at
            2x2 before pooling); larger sizes upsample the eye images.
        device, epochs, batch_size, lr, val_fraction, patience, head_pose, normalize, precision,
        schedule, augment, seed, verbose: as for ``cnn``.
    """

    test_params: ClassVar[dict[str, Any]] = {"backbone": "test_resnet", "epochs": 1, "image_size": [20, 32],
                                             "verbose": False, "precision": "fp32"}

    def __init__(self, backbone: str = "resnet18", pretrained: bool = False, weights: str | None = None,
                 device: str = "auto", epochs: int = 8, batch_size: int = 64, lr: float = 1e-3,
                 val_fraction: float = 0.1, patience: int = 4, image_size: tuple[int, int] = (36, 60),
                 head_pose: bool = True, normalize: str = "equalize", precision: str = "auto",
                 schedule: str = "constant", augment: float = 1.0,
                 seed: int | None = None, verbose: bool = True) -> None:
        self.backbone, self.pretrained, self.weights = backbone, pretrained, weights
        self.device, self.epochs, self.batch_size, self.lr = device, epochs, batch_size, lr
        self.val_fraction, self.patience, self.image_size = val_fraction, patience, image_size
        self.head_pose, self.normalize, self.seed, self.verbose = head_pose, normalize, seed, verbose
        self.precision, self.schedule, self.augment = precision, schedule, augment

    def _build(self, fresh: bool = True) -> nn.Module:
        return TimmGazeNet(self.backbone, head_pose=self.uses_head_pose_, pretrained=fresh and bool(self.pretrained),
                           weights=self.weights if fresh else None)
