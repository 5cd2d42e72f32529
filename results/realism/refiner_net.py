"""The learned refiner of issue 18's rounds 14-16, shared by ``refiner_probe.py`` (which trains it) and
``r16_refined_look.py`` (which loads its saved weights). Research only: the renderer has no refiner."""
import torch
import torch.nn as nn


class Block(nn.Module):
    """A residual block: two 3x3 convolutions of ``width`` channels, added to the input, then ReLU."""

    def __init__(s, width: int):
        super().__init__()
        s.c = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"), nn.ReLU(),
                            nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"))

    def forward(s, x):
        return torch.relu(x + s.c(x))


class Refiner(nn.Module):
    """Adds a learned residual to a crop in [-1, 1]. ``blocks`` 0: round 14's three plain conv layers; else an
    input conv and that many :class:`Block`. ``coords``: the pixel's coordinates as two more input channels;
    ``mirror``: mirror-equivariant, (r(x) + flip(r(flip(x)))) / 2; ``bound``: the change is ``bound * tanh``
    (0: unbounded). The output layer starts at zero, so training starts from the identity."""

    def __init__(s, width: int, blocks: int = 0, coords: int = 0, bound: float = 0.0, mirror: int = 0):
        super().__init__()
        s.coords, s.bound, s.mirror = coords, bound, mirror
        first = nn.Conv2d(1 + 2 * coords, width, 3, padding=1, padding_mode="replicate")
        if blocks:
            s.b = nn.Sequential(first, nn.ReLU(), *[Block(width) for _ in range(blocks)], nn.Conv2d(width, 1, 1))
        else:
            s.b = nn.Sequential(first, nn.ReLU(),
                                nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"), nn.ReLU(),
                                nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"), nn.ReLU(),
                                nn.Conv2d(width, 1, 1))
        nn.init.zeros_(s.b[-1].weight); nn.init.zeros_(s.b[-1].bias)

    def forward(s, x):
        inp = x
        if s.coords:
            n, _, h, w = x.shape
            yy = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(n, 1, h, w)
            xx = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(n, 1, h, w)
            inp = torch.cat([x, yy, xx], 1)
        r = s.b(inp)
        if s.mirror:
            r = (r + s.b(inp.flip(-1)).flip(-1)) / 2
        if s.bound:
            r = s.bound * torch.tanh(r / s.bound)
        return (x + r).clamp(-1, 1)

