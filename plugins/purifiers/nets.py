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
"""

from __future__ import annotations

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


class AttentionTransformNet(_SizeKeeping):
    """The paper's attention-guided transformation network (see the module docstring).

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

    def forward(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 255] and (B, C, H, W) region maps -> float (B, 3, H, W) in [0, 255]."""
        x, (h, w) = self._pad(torch.cat([self._to_unit(images), masks.to(images.dtype)], 1))
        f_full = self.full(x[:, :3])
        joint = torch.cat([f_full, self.mask(x[:, 3:])], 1)
        att = torch.sigmoid(self.attention(joint))  # eq. 7; att- = 1 - att+ (eq. 8)
        self.last_attention = att[..., :h, :w].detach()
        y = torch.cat([f_full, joint * att, joint * (1.0 - att)], 1)  # eq. 9
        y = self.out(self.up(self.body(self.down(y))))
        return self._to_pixels(y[..., :h, :w])


class JohnsonTransformNet(_SizeKeeping):
    """Johnson et al.'s image transformation network (five residual blocks, RGB only).

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
        x, (h, w) = self._pad(self._to_unit(images))
        y = self.out(self.up(self.body(self.down(x))))
        return self._to_pixels(y[..., :h, :w])
