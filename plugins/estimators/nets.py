"""The networks behind ``cnn`` and ``timm``: the paper's gaze CNN and a timm backbone with a head.

Both take a float (N, 1, H, W) image tensor and an optional (N, 2) head pose, and return an
unnormalised (N, 3) gaze vector (the Euclidean loss is taken on it; predictions are normalised).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

#: the paper's convolutional trunk: (out channels) of each unpadded 3x3 conv, "M3"/"M2" pools
PAPER_TRUNK: tuple[int | str, ...] = (32, 32, 64, "M3", 80, 192, "M2")


def trunk_output(input_size: tuple[int, int]) -> tuple[int, int, int]:
    """(C, H, W) of the paper trunk's output for ``input_size`` (H, W): (192, 5, 10) at 35x55,
    (192, 5, 11) at 36x60. Raises a one-line error when the input is too small."""
    h, w = (int(v) for v in input_size)
    for layer in PAPER_TRUNK:
        if layer == "M3":
            h, w = (h - 3) // 2 + 1, (w - 3) // 2 + 1
        elif layer == "M2":
            h, w = (h - 2) // 2 + 1, (w - 2) // 2 + 1
        else:
            h, w = h - 2, w - 2
        if h < 1 or w < 1:
            raise ValueError(f"estimator 'cnn': input_size {tuple(input_size)} is too small for the paper's "
                             "network (at least 19x19; the paper uses 35x55 or 36x60)")
    return 192, h, w


class GazeCNN(nn.Module):
    """The paper's gaze CNN (SimGAN's): conv 32, 32, 64 (3x3, unpadded, ReLU), max-pool 3x3 s2,
    conv 80, 192, max-pool 2x2 s2, flatten (9600 values at 35x55, 10560 at 36x60), FC 1000 + ReLU,
    FC 3. With ``head_pose`` the (pitch, yaw) is concatenated to the 1000 features before the
    last layer, as MPIIGaze's network does. 10,776,659 parameters at 36x60 (9,816,659 at 35x55).
    """

    def __init__(self, input_size: tuple[int, int] = (36, 60), head_pose: bool = False, hidden: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for layer in PAPER_TRUNK:
            if layer == "M3":
                layers.append(nn.MaxPool2d(3, 2))
            elif layer == "M2":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(layer), 3), nn.ReLU(inplace=True)]
                channels = int(layer)
        self.trunk = nn.Sequential(*layers)
        c, h, w = trunk_output(input_size)
        self.fc1 = nn.Linear(c * h * w, hidden)
        self.head_pose = head_pose
        self.fc2 = nn.Linear(hidden + (2 if head_pose else 0), 3)

    def forward(self, x: torch.Tensor, pose: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.fc1(self.trunk(x).flatten(1)))
        if self.head_pose:
            h = torch.cat([h, pose.to(h.dtype)], 1)
        return self.fc2(h)


@contextmanager
def _offline() -> Iterator[None]:
    """No network for the Hugging Face hub: a missing cache fails at once instead of after ~48 s
    of retries. huggingface_hub reads HF_HUB_OFFLINE at import, so its constant is set too."""
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants
    except ImportError:  # timm without the hub: nothing can be downloaded anyway
        constants = None
    old_const = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env


class TimmGazeNet(nn.Module):
    """A timm backbone (``in_chans=1``, global pooling, no classifier) and a linear head to 3;
    the head pose, when used, is concatenated to the pooled features."""

    def __init__(self, backbone: str = "resnet18", head_pose: bool = False, pretrained: bool = False,
                 weights: str | None = None, drop_rate: float = 0.0) -> None:
        super().__init__()
        import timm

        if not timm.is_model(backbone):
            raise ValueError(f"estimator 'timm': unknown backbone {backbone!r}; list them with "
                             "python -c \"import timm; print(timm.list_models())\"")
        kwargs = dict(in_chans=1, num_classes=0, drop_rate=drop_rate)
        if pretrained or weights:
            if weights:
                if not os.path.isfile(weights):
                    raise FileNotFoundError(f"estimator 'timm': weights file {weights} does not exist")
                kwargs["pretrained_cfg_overlay"] = dict(file=str(weights))
            try:
                with _offline():
                    self.backbone = timm.create_model(backbone, pretrained=True, **kwargs)
            except OSError as exc:
                raise ValueError(f"estimator 'timm': no pretrained weights for {backbone!r} in timm's cache "
                                 f"and nothing is downloaded; pass -o timm.weights=PATH or leave "
                                 f"pretrained false ({type(exc).__name__})") from None
        else:
            self.backbone = timm.create_model(backbone, pretrained=False, **kwargs)
        self.head_pose = head_pose
        self.head = nn.Linear(self.backbone.num_features + (2 if head_pose else 0), 3)

    def forward(self, x: torch.Tensor, pose: torch.Tensor | None = None) -> torch.Tensor:
        h = self.backbone(x)
        if self.head_pose:
            h = torch.cat([h, pose.to(h.dtype)], 1)
        return self.head(h)


def count_parameters(net: nn.Module) -> int:
    """Trainable parameters of ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
