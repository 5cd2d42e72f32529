"""How far a timed computation is from the machine's limit: FLOPs counted, peak measured.

``count_flops`` counts the floating-point operations of a call with
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions, forward and backward;
elementwise work is not counted, so a count is a lower bound of the work done). ``probe_peak``
measures what this machine sustains right now on a large matmul and a large convolution; the
fraction of peak of a timing is its achieved GFLOP/s over the peak measured beside it: on a shared
machine the peak moves with the load (it halves when another job takes the cores), so it is
probed in the same run, interleaved with the timings, never taken from a data sheet.
"""

from __future__ import annotations

import time
from typing import Any, Callable

#: probe sizes per device type: big enough to run at the device's speed, small enough to be quick
_PROBE_SIZES = {"cpu": dict(n=2048, batch=8, channels=128, px=64),
                "cuda": dict(n=8192, batch=64, channels=256, px=64)}
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}


_FUSED_REGISTERED = False


def _register_fused_conv_formulas() -> None:
    """Teach FlopCounterMode oneDNN's fused conv ops (``torch.ops.mkldnn._convolution_pointwise``
    and its ``binary`` and transposed forms: conv + ReLU/add in one kernel, which networks may
    call directly for inference). The counter has no formula for them and would count such a
    network's convolutions as zero; each is the FLOPs of its convolution."""
    global _FUSED_REGISTERED
    if _FUSED_REGISTERED:
        return
    import torch
    from torch.utils.flop_counter import conv_flop_count, register_flop_formula

    ops = getattr(torch.ops, "mkldnn", None)

    def conv(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        # default overload: (x, w, b, ...); binary: (x, other, w, b, ...), told apart by the
        # third argument being a 4-d weight rather than a 1-d bias
        w = args[2] if len(args) > 2 and args[2] is not None and len(args[2]) == 4 else args[1]
        return conv_flop_count(args[0], w, out_shape, transposed=False)

    def deconv(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return conv_flop_count(args[0], args[1], out_shape, transposed=True)

    for name, formula in (("_convolution_pointwise", conv), ("_convolution_transpose_pointwise", deconv)):
        packet = getattr(ops, name, None) if ops is not None else None
        if packet is not None:
            register_flop_formula(packet)(formula)
    _FUSED_REGISTERED = True


def count_flops(fn: Callable[[], Any]) -> float:
    """Floating-point operations ``fn()`` dispatches (a multiply-add counts 2), forward and
    backward; it runs ``fn`` once, outside any timing. oneDNN's fused conv ops count as their
    convolutions."""
    from torch.utils.flop_counter import FlopCounterMode

    _register_fused_conv_formulas()
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def conv_flops(batch: int, c_in: int, c_out: int, h_out: int, w_out: int, k: int) -> int:
    """Multiply-adds x 2 of a dense ``k`` x ``k`` convolution: the known answer ``count_flops``
    gives for one."""
    return 2 * batch * c_out * h_out * w_out * c_in * k * k


def probe_peak(device: str = "cpu", dtype: str = "float32", channels_last: bool = False,
               repeats: int = 2, size: dict[str, int] | None = None) -> dict[str, float]:
    """GFLOP/s this device sustains now: the best of ``repeats`` timed runs (after one warm-up)
    of a square matmul and of a 3x3 convolution (same padding), in ``dtype`` and, for the
    convolution, ``channels_last`` layout. ``size`` overrides entries of the device's probe
    (``n`` the matmul's side, ``batch``, ``channels``, ``px``); the speed records use the defaults.
    Returns ``{"matmul": ..., "conv": ..., "peak": max}``."""
    import torch

    dev = torch.device(device)
    dt = getattr(torch, DTYPES[dtype])
    size = {**_PROBE_SIZES.get(dev.type, _PROBE_SIZES["cpu"]), **(size or {})}
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    gen = torch.Generator(device="cpu").manual_seed(0)
    n, b, c, px = size["n"], size["batch"], size["channels"], size["px"]
    a = torch.randn(n, n, generator=gen).to(dev, dt)
    m = torch.randn(n, n, generator=gen).to(dev, dt)
    x = torch.randn(b, c, px, px, generator=gen).to(dev, dt)
    w = torch.randn(c, c, 3, 3, generator=gen).to(dev, dt) * 0.03
    if channels_last:
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    work = {"matmul": (lambda: a @ m, 2.0 * n ** 3),
            "conv": (lambda: torch.nn.functional.conv2d(x, w, padding=1), float(conv_flops(b, c, c, px, px, 3)))}
    out: dict[str, float] = {}
    with torch.no_grad():
        for name, (fn, flops) in work.items():
            fn()
            sync()
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                sync()
                best = min(best, time.perf_counter() - t0)
            out[name] = flops / best / 1e9
    out["peak"] = max(out["matmul"], out["conv"])
    return out
