"""Per-stage times of the attention and Johnson transformation nets, before and after the exact
eval-mode reformulation (plugins/purifiers/nets.py), against this machine's measured peak.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/attention_net.py --sizes 256,512 --width 16 \\
        --rounds 7 --markdown results/cpu/attention_net.md

"Before" is the original layer-by-layer forward (``reference_*_forward`` in
tests/test_nets_fast.py, run on the same modules and weights); "after" is the nets' own eval
forward. Every round runs, interleaved: each network once untimed-by-profiler (the totals) and once
under the profiler (the stages), then the two peak probes (a 2048^2 matmul; a 3x3 conv 128->128 at
64x64, batch 8). Medians over rounds, with min-max. GFLOP are the original network's (FlopCounterMode
on the reference forward), so the "after" GFLOP/s is useful work per second; the reformulation's own
multiply-adds differ a little (the stream conv reads 1/4 fewer channels, the phase and row-split convs
multiply some zeros).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics as st
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from gazebench_plugins.purifiers.nets import AttentionTransformNet, JohnsonTransformNet

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_ref", ROOT / "tests" / "test_nets_fast.py")
_ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ref)

ATT_STAGES = {"in": [], "first": ["full", "mask"], "attention": ["attention"], "down0": ["down.0"],
              "down1": ["down.1"], "body": ["body"], "up0": ["up.0"], "up1": ["up.1"], "out": ["out"]}
JOHN_STAGES = {"in": [], "down0": ["down.0"], "down1": ["down.1"], "down2": ["down.2"], "body": ["body"],
               "up0": ["up.0"], "up1": ["up.1"], "out": ["out"]}


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of mapping fresh pages per large tensor.

    By default glibc serves each large allocation (a few MB: every full-resolution activation here)
    with a fresh mmap and unmaps it on free, so every layer's output page-faults in and is zeroed
    by the kernel: a reflection pad of 24 x 258 x 258 floats measured 3-7 ms instead of 0.5 ms.
    Same as MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ in the environment; process-wide.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(-3, 2 ** 31 - 1) and libc.mallopt(-1, 2 ** 31 - 1))  # M_MMAP_ / M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


def stage_gflop(fn, net, stages: dict[str, list[str]]) -> tuple[dict[str, float], float]:
    """GFLOP of each stage's submodules, from the inputs they get in one reference forward."""
    inputs, hooks = {}, []
    mods = dict(net.named_modules())
    for name in {m for ms in stages.values() for m in ms}:
        hooks.append(mods[name].register_forward_hook(lambda mod, i, o, name=name: inputs.__setitem__(name, i)))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    for h in hooks:
        h.remove()
    per = {}
    for s, names in stages.items():
        per[s] = 0.0
        for name in names:
            with FlopCounterMode(display=False) as c, torch.no_grad():
                mods[name](*inputs[name])
            per[s] += c.get_total_flops() / 1e9
    return per, counter.get_total_flops() / 1e9


def profiled_stages(fn, stages) -> dict[str, float]:
    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.no_grad():
        fn()
    out = dict.fromkeys(stages, 0.0)
    for ev in prof.events():
        if ev.name in out:
            out[ev.name] += ev.cpu_time_total / 1e3  # ms
    return out


def timed(fn) -> float:
    t = time.perf_counter()
    with torch.no_grad():
        fn()
    return (time.perf_counter() - t) * 1e3


def measure(size: int, width: int, rounds: int) -> dict:
    torch.manual_seed(0)
    att = _ref._randomised(AttentionTransformNet(1, width, max(1, width // 2))).eval()
    john = _ref._randomised(JohnsonTransformNet(width)).eval()
    x = torch.rand(1, 3, size, size) * 255
    m = (torch.rand(1, 1, size, size) > 0.5).float()
    runs = {"attention before": (lambda: _ref.reference_attention_forward(att, x, m), ATT_STAGES, att),
            "attention after": (lambda: att(x, m), ATT_STAGES, att),
            "johnson before": (lambda: _ref.reference_johnson_forward(john, x), JOHN_STAGES, john),
            "johnson after": (lambda: john(x), JOHN_STAGES, john)}
    with torch.no_grad():
        err = {"attention": float((runs["attention before"][0]() - runs["attention after"][0]()).abs().max()),
               "johnson": float((runs["johnson before"][0]() - runs["johnson after"][0]()).abs().max())}
    gflop = {k: stage_gflop(runs[k + " before"][0], net, st_)
             for k, st_, net in (("attention", ATT_STAGES, att), ("johnson", JOHN_STAGES, john))}
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    ci, cw = torch.randn(8, 128, 66, 66), torch.randn(128, 128, 3, 3)
    probes = {"matmul 2048^2": (lambda: a @ b, 2 * 2048 ** 3 / 1e9),
              "conv3x3 128->128 64x64 b8": (lambda: torch.nn.functional.conv2d(ci, cw), 2 * 128 * 128 * 9 * 64 * 64 * 8 / 1e9)}
    for fn, *_ in runs.values():  # warm-up: allocation, oneDNN primitive creation, derived weights
        timed(fn), timed(fn)
    for fn, _ in probes.values():
        timed(fn)
    totals = {k: [] for k in runs} | {k: [] for k in probes}
    stages = {k: {s: [] for s in v[1]} for k, v in runs.items()}
    for _ in range(rounds):
        for k, (fn, st_, _net) in runs.items():
            totals[k].append(timed(fn))
            for s, ms in profiled_stages(fn, st_).items():
                stages[k][s].append(ms)
        for k, (fn, _) in probes.items():
            totals[k].append(timed(fn))
    peaks = {k: g / (st.median(totals[k]) / 1e3) for k, (_, g) in probes.items()}
    return dict(size=size, width=width, rounds=rounds, totals=totals, stages=stages, gflop=gflop,
                peaks=peaks, peak=max(peaks.values()), max_abs_diff=err,
                probe_spread={k: (g / (max(totals[k]) / 1e3), g / (min(totals[k]) / 1e3))
                              for k, (_, g) in probes.items()})


def train_step(size: tuple[int, int], batch: int, width: int, rounds: int) -> str:
    """Forward + backward in training mode (the fit loop's network work), reference vs the net's own."""
    torch.manual_seed(0)
    net = AttentionTransformNet(1, width, max(1, width // 2)).train()
    x = torch.rand(batch, 3, *size) * 255
    m = (torch.rand(batch, 1, *size) > 0.5).float()
    runs = {"reference": lambda: _ref.reference_attention_forward(net, x, m), "reformulated": lambda: net(x, m)}

    def step(fn):
        t = time.perf_counter()
        fn().mean().backward()
        return (time.perf_counter() - t) * 1e3

    for fn in runs.values():
        step(fn), step(fn)
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for k, fn in runs.items():
            times[k].append(step(fn))
    ratio = [a / b for a, b in zip(times["reformulated"], times["reference"])]
    return (f"Training step (forward + backward, train mode) at {size[0]}x{size[1]}, batch {batch}, width {width}, "
            f"{rounds} interleaved rounds: reference {_fmt(times['reference'])} ms, reformulated "
            f"{_fmt(times['reformulated'])} ms; ratio {st.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f}).\n")


def _unshuffle_conv(w: torch.Tensor, b: torch.Tensor, s: int = 4):
    """A stride-1 k x k conv as a conv over ``pixel_unshuffle(x, s)`` (s^2 x the outputs, some zero taps)."""
    o, c, k, _ = w.shape
    kk = (k + 2 * (s - 1)) // s
    wn = w.new_zeros(o, s, s, c, s, s, kk, kk)
    for a in range(s):
        for bb in range(s):
            for i in range(k):
                for j in range(k):
                    di, r = divmod(a + i, s)
                    dj, t = divmod(bb + j, s)
                    wn[:, a, bb, :, r, t, di, dj] = w[:, :, i, j]
    wn = wn.reshape(o * s * s, c * s * s, kk, kk).contiguous(memory_format=torch.channels_last)
    bn = b.repeat_interleave(s * s)
    return lambda x: F.pixel_shuffle(F.conv2d(F.pixel_unshuffle(x, s), wn, bn), s)


def variants(size: int, width: int, rounds: int) -> str:
    """The slow layers in isolation, written the ways tried (all exact; medians over interleaved rounds)."""
    from gazebench_plugins.purifiers import nets

    cl = torch.channels_last
    torch.manual_seed(0)
    w, b = torch.randn(3, width, 9, 9) * 0.05, torch.randn(3)
    x = torch.rand(1, width, size + 8, size + 8)
    xc = x.contiguous(memory_format=cl)
    rs = nets._row_split(w, b)
    joint = width + max(1, width // 2)
    wa, ba = torch.randn(1, joint, 3, 3), torch.randn(1)
    a = torch.rand(1, joint, size + 2, size + 2)
    ac = a.contiguous(memory_format=cl)
    taps = wa.reshape(joint, 9).contiguous()
    wd = torch.randn(2 * width, joint * 2, 3, 3)
    d = torch.rand(1, joint * 2, size + 2, size + 2)
    ct = torch.nn.ConvTranspose2d(2 * width, width, 4, 2, 1).requires_grad_(False)
    u = torch.rand(1, 2 * width, size // 2, size // 2)
    cases = {
        "9x9 16->3 output conv: NCHW": (lambda: F.conv2d(x, w, b), 2 * width * 81 * 3 * size * size),
        "9x9 16->3 output conv: channels_last": (lambda: F.conv2d(xc, w.contiguous(memory_format=cl), b), None),
        "9x9 16->3 output conv: pixel_unshuffle(4) + 3x3 conv (1.78x the multiply-adds)": (
            (lambda f=_unshuffle_conv(w, b): f(xc)), None),
        "9x9 16->3 output conv: row split, 1x9 conv to 27 channels only": (
            lambda: F.conv2d(xc, rs["rows"], rs["bias"]), None),
        "9x9 16->3 output conv: row split + shifted sum (used)": (lambda: nets._row_split_conv(xc, rs), None),
        "3x3 24->1 attention conv: NCHW": (lambda: F.conv2d(a, wa, ba), 2 * joint * 9 * size * size),
        "3x3 24->1 attention conv: channels_last": (lambda: F.conv2d(ac, wa, ba), None),
        "3x3 24->1 attention conv: tap matmul + shifted adds (used)": (lambda: nets._taps_conv(ac, taps) + ba, None),
        "3x3/2 48->32 stream conv: NCHW": (lambda: F.conv2d(d, wd, stride=2), 2 * 2 * joint * 9 * 2 * width * size * size / 4),
        "3x3/2 48->32 stream conv: channels_last": (
            lambda: F.conv2d(d.contiguous(memory_format=cl), wd.contiguous(memory_format=cl), stride=2), None),
        "4x4/2 transposed 32->16: NCHW": (lambda: ct(u), 2 * 2 * width * width * 16 * (size // 2) ** 2),
        "4x4/2 transposed 32->16: channels_last": ((lambda uc=u.contiguous(memory_format=cl): ct(uc)), None),
    }
    times = {k: [] for k in cases}
    with torch.no_grad():
        for fn, _ in cases.values():
            fn(), fn()
        for _ in range(rounds):
            for k, (fn, _) in cases.items():
                times[k].append(timed(fn))
    lines = [f"Slow layers in isolation at {size}x{size}, width {width} ({rounds} interleaved rounds):", "",
             "| layer, written as | ms (min-max) | GFLOP/s of the original layer |", "|---|---|---|"]
    flops = None
    for k, (_, f) in cases.items():
        flops = f or flops
        lines.append(f"| {k} | {_fmt(times[k])} | {flops / 1e9 / (st.median(times[k]) / 1e3):.0f} |")
    return "\n".join(lines) + "\n"


def page_faults(size: int, width: int, rounds: int) -> str:
    """The reformulated attention forward with glibc's default allocator settings, then after
    keep_freed_memory() (not interleaved: the switch is one-way), each beside the matmul probe."""
    torch.manual_seed(0)
    net = AttentionTransformNet(1, width, max(1, width // 2)).eval()
    x = torch.rand(1, 3, size, size) * 255
    m = (torch.rand(1, 1, size, size) > 0.5).float()
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out = []
    for label in ("glibc defaults", "after keep_freed_memory()"):
        if label != "glibc defaults" and not keep_freed_memory():
            break
        timed(lambda: net(x, m))
        fwd, mm = [], []
        for _ in range(rounds):
            fwd.append(timed(lambda: net(x, m)))
            mm.append(2 * 2048 ** 3 / 1e6 / timed(lambda: a @ b))
        out.append(f"{label}: forward {_fmt(fwd)} ms, matmul probe {_fmt(mm)} GFLOP/s")
    return (f"Allocator: reformulated attention forward at {size}x{size}, width {width}, {rounds} rounds per "
            f"setting; " + "; ".join(out) + ".\n")


def _fmt(v: list[float]) -> str:
    return f"{st.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"


def markdown(res: dict) -> str:
    size, peak = res["size"], res["peak"]
    lines = [f"### {size}x{size}, width {res['width']}, batch 1, fp32, {torch.get_num_threads()} threads, "
             f"{res['rounds']} interleaved rounds",
             "",
             "Peak probes (median GFLOP/s, min-max): " + "; ".join(
                 f"{k} {g:.0f} ({lo:.0f}-{hi:.0f})" for (k, g), (lo, hi)
                 in zip(res["peaks"].items(), res["probe_spread"].values())) + f"; peak = {peak:.0f} GFLOP/s.",
             ""]
    for net in ("attention", "johnson"):
        per, total = res["gflop"][net]
        lines += [f"**{net}** ({total:.2f} GFLOP; max |after - before| = {res['max_abs_diff'][net]:.1e} grey levels)",
                  "",
                  "| stage | GFLOP | before ms | before GFLOP/s | before % peak | after ms | after GFLOP/s | after % peak |",
                  "|---|---|---|---|---|---|---|---|"]
        for s, g in per.items():
            b, a = res["stages"][f"{net} before"][s], res["stages"][f"{net} after"][s]
            mb, ma = st.median(b), st.median(a)
            cells = [f"{g:.3f}", _fmt(b)]
            cells += [f"{g / mb * 1e3:.0f}", f"{100 * g / mb * 1e3 / peak:.0f}%"] if g else ["-", "-"]
            cells += [_fmt(a)]
            cells += [f"{g / ma * 1e3:.0f}", f"{100 * g / ma * 1e3 / peak:.0f}%"] if g else ["-", "-"]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        tb, ta = res["totals"][f"{net} before"], res["totals"][f"{net} after"]
        lines.append(f"| **whole forward** (unprofiled) | {total:.3f} | {_fmt(tb)} | {total / st.median(tb) * 1e3:.0f} | "
                     f"{100 * total / st.median(tb) * 1e3 / peak:.0f}% | {_fmt(ta)} | {total / st.median(ta) * 1e3:.0f} | "
                     f"{100 * total / st.median(ta) * 1e3 / peak:.0f}% |")
        lines.append("")
    r = {k: [a / j for a, j in zip(res["totals"][f"attention {k}"], res["totals"][f"johnson {k}"])]
         for k in ("before", "after")}
    lines += [f"Attention / Johnson time (per-round ratios, median and min-max): before {st.median(r['before']):.2f} "
              f"({min(r['before']):.2f}-{max(r['before']):.2f}), after {st.median(r['after']):.2f} "
              f"({min(r['after']):.2f}-{max(r['after']):.2f}). Attention after / before: "
              f"{st.median([a / b for a, b in zip(res['totals']['attention after'], res['totals']['attention before'])]):.2f}.",
              ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--markdown", type=Path, default=None, help="write the tables here (else print)")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="mallopt: no mmap per large tensor and no trimming (see keep_freed_memory)")
    ap.add_argument("--train-step", action="store_true", help="also time a training step at 36x60, batch 4")
    ap.add_argument("--variants", action="store_true",
                    help="also time the slow layers in isolation, written the ways tried (at the first size)")
    ap.add_argument("--page-faults", action="store_true",
                    help="first time the forward with glibc's defaults, then after keep_freed_memory()")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    parts = []
    if args.page_faults:
        parts.append(page_faults(int(args.sizes.split(",")[0]), args.width, args.rounds))
    if args.keep_freed_memory:
        keep_freed_memory()
    if args.variants:
        parts.append(variants(int(args.sizes.split(",")[0]), args.width, args.rounds))
    parts += [markdown(measure(int(s), args.width, args.rounds)) for s in args.sizes.split(",") if s]
    if args.train_step:
        parts.append(train_step((36, 60), 4, args.width, 3 * args.rounds))
    text = "\n".join(parts)
    if args.markdown:
        args.markdown.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
