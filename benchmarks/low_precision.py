"""Is bf16 / fp16 faster than fp32 on this CPU? The primitives, then the attention net.

    python benchmarks/low_precision.py [--rounds 7] [--out results/cpu/low_precision.md]

Issue 14 asks for ``--dtype bf16`` rows that are faster than fp32 eager. Whether that can happen
is a property of the machine's oneDNN kernels, so this measures it at the bottom first: the
speed records' peak probe (a 2048^2 matmul and a channels_last 3x3 128->128 convolution at 64x64,
batch 8) in each precision, interleaved round by round (medians, min-max), then the attention net's forward at 256 and 512 px in fp32
(the exact fused eval path), under bf16 autocast (what ``-o attention.dtype=bf16`` runs), and with
the eval path's derived weights cast to bf16 once and the input in bf16 (no per-call casts).
Prints a markdown report; ``--out`` also writes it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_flags() -> list[str]:
    """The low-precision ISA flags of this CPU (from /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return sorted(f for f in flags if "bf16" in f or "fp16" in f or f.startswith("amx") or f == "avx512f")


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int, reps: int) -> dict[str, list[float]]:
    """Seconds per call of each function, one timing of each per round (so load drifts hit all)."""
    for f in fns.values():
        f(), f()  # oneDNN builds its primitives on the first calls
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(reps):
                f()
            out[k].append((time.perf_counter() - t) / reps)
    return out


def _cast(v: Any, dtype: torch.dtype) -> Any:
    if isinstance(v, torch.Tensor):
        return v.to(dtype) if v.is_floating_point() else v
    if isinstance(v, (list, tuple)):
        return type(v)(_cast(x, dtype) for x in v)
    if isinstance(v, dict):
        return {k: _cast(x, dtype) for k, x in v.items()}
    return v


def _g(gflops: float) -> str:
    """GFLOP/s as an integer, with two significant digits below 10 (a CPU without native bf16 runs
    its matmul at well under 1 GFLOP/s: printed as 0 on an AMD EPYC with AVX2 only)."""
    return f"{gflops:.0f}" if gflops >= 10 else f"{gflops:.2g}"


def primitives(rounds: int, size: dict[str, int] | None = None) -> list[str]:
    """The speed records' own peak probe (:func:`gazebench.limit.probe_peak`: a square matmul and a
    channels_last 3x3 convolution) in each precision, one probe of each per round; ``size`` shrinks it
    (the tests: a CPU without native bf16 runs the 2048^2 matmul at ~0.5 GFLOP/s, half a minute a call)."""
    from gazebench.limit import probe_peak

    got: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name in DTYPES:
            res = probe_peak("cpu", name, channels_last=True, repeats=1, size=size)
            for prim in ("conv", "matmul"):
                got.setdefault((prim, name), []).append(res[prim])
    lines = ["| primitive | precision | rounds | GFLOP/s min-max | GFLOP/s (median) | x vs fp32 |",
             "|---|---|---|---|---|---|"]
    for prim in ("conv", "matmul"):
        base = statistics.median(got[(prim, "fp32")])
        for name in DTYPES:
            v = got[(prim, name)]
            m = statistics.median(v)
            lines.append(f"| {prim} | {name} | {len(v)} | {_g(min(v))}-{_g(max(v))} | {_g(m)} | {m / base:.2g} |")
    return lines


def attention_net(rounds: int, sizes: list[int]) -> list[str]:
    from gazebench_plugins.purifiers import nets

    lines = ["| px | fp32 (fused eval) ms | bf16 autocast ms | bf16 weights + input ms | autocast x vs fp32 | "
             "bf16 weights x vs fp32 | max / mean grey-level error (bf16 weights) |", "|---|---|---|---|---|---|---|"]
    for px in sizes:
        torch.manual_seed(0)
        net = nets.AttentionTransformNet(mask_channels=3, width=16).eval()
        img, m = torch.rand(1, 3, px, px) * 255, (torch.rand(1, 3, px, px) > 0.5).float()
        with torch.no_grad():
            ref = net(img, m)
            low = _cast(net._derived(), torch.bfloat16)
            fusable = nets._fusable

            fused_dtypes = (torch.float32, torch.bfloat16) if bf16_fused_ok() else (torch.float32,)

            def native() -> torch.Tensor:
                # the same exact eval path with bf16 weights and activations, fused ops included where
                # oneDNN runs them in bf16 on this CPU (else the unfused convolutions, in bf16 too)
                nets._fusable = lambda x: x.dtype in fused_dtypes and not torch.is_grad_enabled()
                net.__dict__["_derived"] = lambda: low
                try:
                    return net(img.to(torch.bfloat16), m.to(torch.bfloat16))
                finally:
                    nets._fusable = fusable
                    del net.__dict__["_derived"]

            def auto() -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return net(img, m)

            err = (native().float() - ref).abs()
            t = interleaved({"fp32": lambda: net(img, m), "auto": auto, "native": native}, rounds, reps=2)
        med = {k: statistics.median(v) for k, v in t.items()}
        lines.append(f"| {px} | {med['fp32'] * 1e3:.1f} | {med['auto'] * 1e3:.1f} | {med['native'] * 1e3:.1f} | "
                     f"{med['fp32'] / med['auto']:.2f} | {med['fp32'] / med['native']:.2f} | "
                     f"{err.max():.2f} / {err.mean():.3f} |")
    return lines


def bf16_fused_ok() -> bool:
    """Whether oneDNN's fused conv + ReLU runs in bf16 on this CPU: it needs avx512bw, avx512vl and
    avx512dq, or avx_ne_convert (an AMD EPYC with AVX2 only raises; seen 2026-12-06)."""
    x = torch.zeros(1, 1, 4, 4, dtype=torch.bfloat16)
    try:
        torch.ops.mkldnn._convolution_pointwise(x, torch.zeros(1, 1, 3, 3, dtype=torch.bfloat16), None, [1, 1],
                                                [1, 1], [1, 1], 1, "relu", [], "")
    except (RuntimeError, AttributeError):
        return False
    return True


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be a positive number of elements")
    return v


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--out", default=None)
    ap.add_argument("--probe-n", type=_positive, default=None,
                    help="the primitives' matmul side (default: the speed records' probe, 2048)")
    ap.add_argument("--probe-px", type=_positive, default=None,
                    help="the primitives' convolution size in px (default: the speed records' probe, 64)")
    a = ap.parse_args(argv)
    size = {k: v for k, v in (("n", a.probe_n), ("px", a.probe_px)) if v is not None}
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    from gazebench.results import device_name

    head = [f"CPU: {device_name('cpu')}; low-precision flags: "
            f"{', '.join(cpu_flags()) or 'none found'}; torch {torch.__version__}, {torch.get_num_threads()} "
            f"threads, oneDNN bf16 support reported: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}, "
            f"fp16: {torch.ops.mkldnn._is_mkldnn_fp16_supported()}; fused bf16 conv + ReLU runs: {bf16_fused_ok()} "
            f"(else the bf16-weights column is the unfused bf16 path); load average at start {load}; "
            f"{a.rounds} interleaved rounds"
            + (f"; primitives probed at {size} (not the speed records' size)" if size else "") + ".", ""]
    text = "\n".join(head + primitives(a.rounds, size or None) + [""] + attention_net(a.rounds, [int(s) for s in a.sizes.split(",")]))
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
