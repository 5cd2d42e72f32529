"""Counter-based random numbers: a value is a pure function of (seed, stream, index, slot).

One ``torch.Generator`` per sample does not vectorise, and a shared generator makes a sample's
bytes depend on the batch it is drawn in. Hashing the coordinates instead gives every sample
(and every pixel of its sensor noise) its own numbers whatever the batch, in a handful of
integer tensor operations.

The hash is Chris Wellons' ``lowbias32`` on 32-bit words. Every product is computed with 16-bit
halves so that no intermediate leaves the int64 range (torch has no unsigned 64-bit arithmetic,
and signed overflow is not something to rely on).
"""

from __future__ import annotations

import math

import torch

_MASK32 = 0xFFFFFFFF


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for int64 ``x`` in [0, 2**32) without int64 overflow."""
    lo = x & 0xFFFF
    hi = x >> 16
    return (lo * c + ((hi * (c & 0xFFFF)) << 16)) & _MASK32


def hash32(x: torch.Tensor) -> torch.Tensor:
    """The ``lowbias32`` integer hash of int64 values in [0, 2**32); returns the same range."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def combine(key: torch.Tensor, value: torch.Tensor | int) -> torch.Tensor:
    """A new key from ``key`` and ``value`` (broadcasting), order-sensitive."""
    value = torch.as_tensor(value, dtype=torch.int64)
    return hash32(key ^ hash32((value & _MASK32) + 0x9E3779B9))


def base_key(seed: int, stream: int) -> torch.Tensor:
    """The root key of one (seed, stream): a scalar int64 tensor."""
    seed = int(seed)
    key = hash32(torch.tensor(seed & _MASK32, dtype=torch.int64))
    key = combine(key, (seed >> 32) & _MASK32)
    return combine(key, int(stream))


def keys(seed: int, stream: int, indices: torch.Tensor) -> torch.Tensor:
    """One key per index: int64 (N,)."""
    idx = torch.as_tensor(indices, dtype=torch.int64)
    # indices above 2**32 fold their high word in, so a huge lazy dataset never repeats a key
    return combine(combine(base_key(seed, stream), idx & _MASK32), idx >> 32)


def uniform(key: torch.Tensor, n: int, *, offset: int = 0) -> torch.Tensor:
    """float64 (N, n) uniforms in (0, 1): slots ``offset .. offset + n - 1`` of each key."""
    slots = torch.arange(offset, offset + n, dtype=torch.int64)
    h = combine(key.view(-1, 1), slots.view(1, -1))
    return (h.double() + 0.5) / 2.0**32


def normal_from_uniform(u: torch.Tensor) -> torch.Tensor:
    """Standard normal values from uniforms in (0, 1) by the inverse CDF."""
    return torch.erfinv(2.0 * u - 1.0) * math.sqrt(2.0)


def pixel_normal(key: torch.Tensor, shape: tuple[int, ...], *, salt: int = 0) -> torch.Tensor:
    """float32 standard normals of shape ``(N, *shape)``, independent per sample.

    Per-pixel values are too many to hash quickly in int64 (about 4 s for 20 M on 2 cores), so
    each sample seeds its own ``torch.Generator`` from its key: about 20 us per sample, and the
    values still depend only on the sample's key and the shape, never on the batch.
    """
    seeds = combine(key.view(-1), salt).tolist()
    out = torch.empty((len(seeds), *shape), dtype=torch.float32)
    gen = torch.Generator()
    for i, s in enumerate(seeds):
        gen.manual_seed(int(s))
        torch.randn(shape, generator=gen, out=out[i])
    return out
