"""The GPU suite in one run (issue 14 item 5); ``benchmarks/gpu.sh`` calls it.

On a CUDA machine, in under 8 minutes (``--budget-s``), into ``results/gpu/<device>/``:

1. ``speed-table1.json`` (+ ``.md``): the paper's Table 1, ``gazebench speed`` over gatys,
   attention and johnson at 256/512/1024, fp32 eager and bf16 autocast with channels_last (the
   speed command's own knobs: one record with both settings' rows, or with a speed command
   that times one setting per run, ``speed-table1-fp32.json`` and
   ``speed-table1-bf16-channels-last.json``).
2. ``attention-throughput.json``: the attention net (paper preset, width 32) and Johnson's at
   512 px, images/s at batch 1 and at each batch up to the best (or until memory runs out).
3. ``purifier-fit.json``: ``gazebench train-purifier -p attention --preset paper`` for a few
   hundred Adam steps (256x256, batch 4, VGG-19 loss), steps/s.
4. ``cnn-throughput.json``: the paper's gaze CNN (36x60, head pose), training and inference
   samples/s, fp32 and bf16 autocast.

plus ``summary.json`` (every step's figures, seconds, errors, CUDA settings) and ``README.md``.
Loss networks use random weights (``loss_weights=random``): the machine may be offline and
weights do not change the cost; every file says so. Timing follows benchmarks/README.md: warm
up first, synchronise inside the timed region (``gazebench.device.time_calls``), cuDNN
autotuning on for the fixed-size steps.

Without CUDA it refuses (exit 2) unless ``--dry-run``: the same steps on tiny sizes on the CPU,
so the script itself is tested (tests/test_gpu_suite.py); ``--dry-run --device cuda`` is that
smoke run on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]

#: the GPU settings, and the tiny ones of --dry-run (the same code paths)
FULL: dict[str, Any] = dict(
    speed_purifiers="gatys,attention,johnson", resolutions="256,512,1024", repeats=3, timed_iterations="2,12",
    speed_sets=["gatys.loss_weights=random", "attention.loss_weights=random", "johnson.loss_weights=random",
                "attention.width=32", "johnson.width=32"], speed_extra=["--batch", "16"], speed_no_probe=False,
    net_params=dict(), size=512, batches=[1, 2, 4, 8, 16, 32, 64], tp_repeats=5,
    fit_steps=300, fit_data=["--content", "synth-wild", "--style", "synth", "--n-content", "64", "--n-style", "256"],
    fit_sets=["attention.loss_weights=random"],
    cnn_params=dict(), cnn_batch=512, cnn_steps=20, cnn_repeats=3)
DRY: dict[str, Any] = dict(
    speed_purifiers="gatys,attention,johnson", resolutions="32", repeats=1, timed_iterations="1,2",
    speed_sets=["gatys.loss_weights=random", "attention.loss_weights=random", "johnson.loss_weights=random",
                "attention.width=4", "johnson.width=4", "attention.n_residual=1", "johnson.n_residual=1",
                "attention.loss_net=efficientnet_lite0", "johnson.loss_net=efficientnet_lite0",
                "gatys.loss_net=efficientnet_lite0"], speed_extra=["--batch", "1", "--warmup", "0"], speed_no_probe=True,
    net_params=dict(width=4, n_residual=1), size=32, batches=[1, 2], tp_repeats=2,
    fit_steps=3, fit_data=["--content", "toy-wild", "--style", "toy", "--n-content", "8", "--n-style", "8"],
    fit_sets=["attention.loss_weights=random", "attention.loss_net=efficientnet_lite0", "attention.width=4",
              "attention.n_residual=1", "attention.train_size=[32,32]"],
    cnn_params=dict(hidden=16), cnn_batch=8, cnn_steps=2, cnn_repeats=1)

VARIANTS = [("fp32", None, False), ("bf16-channels-last", "bf16", True)]


def slug(name: str) -> str:
    """A folder name for a device name ("NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3")."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def gazebench(*args: str) -> None:
    """Run a ``gazebench`` command in this process (one CUDA context for the whole suite)."""
    import click

    from gazebench.cli import cli
    from gazebench.plugins import get_plugin_manager

    get_plugin_manager().register_commands(cli)
    argv = sys.argv
    sys.argv = ["gazebench", *args]  # what a record names as its command
    try:
        cli.main(args=list(args), prog_name="gazebench", standalone_mode=False)
    except click.ClickException as exc:
        raise RuntimeError(f"gazebench {' '.join(args[:3])} ...: {exc.format_message()}") from None
    except SystemExit as exc:
        if exc.code:
            raise RuntimeError(f"gazebench {' '.join(args[:3])} ... exited with {exc.code}") from None
    finally:
        sys.argv = argv


def speed_options() -> dict[str, list[str]]:
    """``gazebench speed``'s options by flag (``"no-probe"`` for ``--no-probe``), each with its choices."""
    from gazebench.cli.speed_cmd import speed

    return {o.lstrip("-"): [str(c) for c in getattr(p.type, "choices", [])]
            for p in speed.params for o in getattr(p, "opts", []) if o.startswith("--")}


def speed_dtype_flag() -> str:
    """How ``gazebench speed --dtype`` spells bf16 (``bf16`` or ``bfloat16``)."""
    choices = speed_options().get("dtype", [])
    return next((c for c in ("bf16", "bfloat16") if c in choices), "bf16")


def _sets(values: list[str]) -> list[str]:
    return [a for v in values for a in ("-o", v)]


def step_table1(cfg: dict[str, Any], out: Path, device: str) -> dict[str, Any]:
    """Table 1 through ``gazebench speed``, fp32 eager and bf16 + channels_last.

    A speed command that times knob rows beside fp32 eager (it has ``--setting``) runs once
    (``speed-table1.json``); an older one runs once per setting (``speed-table1-<setting>.json``)."""
    opts = speed_options()
    common = ["speed", "-p", cfg["speed_purifiers"], "--resolutions", cfg["resolutions"], "--device", device,
              "--repeats", str(cfg["repeats"]), "--timed-iterations", cfg["timed_iterations"],
              *cfg["speed_extra"], *_sets(cfg["speed_sets"])]
    if "no-probe" in opts and cfg["speed_no_probe"]:
        common.append("--no-probe")
    knobs = ["--dtype", speed_dtype_flag(), "--channels-last"]
    runs = [("speed-table1", knobs)] if "setting" in opts else \
        [(f"speed-table1-{name}", knobs if dtype else []) for name, dtype, _ in VARIANTS]
    res: dict[str, Any] = {"records": []}
    for stem, flags in runs:
        rec = out / f"{stem}.json"
        gazebench(*common, *flags, "--out", str(rec))
        gazebench("report", str(rec), "--format", "md", "--out", str(rec.with_suffix(".md")))
        res["records"].append(rec.name)
        for r in json.loads(rec.read_text())["rows"]:
            setting = r.get("setting") or ("fp32 eager" if not flags else "bf16 + channels_last")
            res.setdefault(setting, []).append(
                {k: r.get(k) for k in ("purifier", "variant", "resolution", "seconds_per_image", "images_per_second",
                                       "batch", "dtype", "fraction_of_peak", "max_error", "error")})
    return res


def _images(n: int, size: int, device: str) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).to(device)
    m = (torch.rand(n, 1, size, size, generator=g) > 0.7).float().to(device)
    return x, m


def step_throughput(cfg: dict[str, Any], out: Path, device: str) -> dict[str, Any]:
    """Forward images/s of the paper-preset attention net and Johnson's at ``size`` px, per batch
    size, fp32 and bf16 autocast + channels_last; stops growing the batch at out-of-memory."""
    import torch

    from gazebench.device import autocast, time_calls
    from gazebench_plugins.purifiers.feedforward import AttentionPurifier, JohnsonPurifier

    rows = []
    for kind, cls in (("attention", AttentionPurifier), ("johnson", JohnsonPurifier)):
        pur = cls(preset="paper", **cfg["net_params"])
        p = pur.resolved()
        net = pur._make_net(p).to(device).eval()
        n_masks = len(p["regions"]) if kind == "attention" else 1
        for name, dtype, cl in VARIANTS:
            model = net.to(memory_format=torch.channels_last) if cl else net.to(memory_format=torch.contiguous_format)
            for b in cfg["batches"]:
                try:
                    x, m = _images(b, cfg["size"], device)
                    m = m.expand(-1, n_masks, -1, -1).contiguous()
                    if cl:
                        x, m = x.contiguous(memory_format=torch.channels_last), m.contiguous(memory_format=torch.channels_last)

                    def fwd() -> None:
                        with torch.no_grad(), autocast(device, dtype):
                            model(x, m)

                    times = time_calls(fwd, device, warmup=2, repeats=cfg["tp_repeats"])
                except torch.cuda.OutOfMemoryError:
                    rows.append({"net": kind, "variant": name, "batch": b, "error": "out of memory"})
                    break
                finally:
                    if device.startswith("cuda"):
                        torch.cuda.empty_cache()
                med = statistics.median(times)
                rows.append({"net": kind, "variant": name, "batch": b, "seconds_per_batch": med,
                             "seconds_min": min(times), "images_per_second": b / med})
        del net
    best = {}
    for kind in ("attention", "johnson"):
        for name, _, _ in VARIANTS:
            ok = [r for r in rows if r["net"] == kind and r["variant"] == name and "images_per_second" in r]
            if ok:
                top = max(ok, key=lambda r: r["images_per_second"])
                one = next((r for r in ok if r["batch"] == 1), None)
                best[f"{kind}/{name}"] = {"batch1_images_per_second": one and one["images_per_second"],
                                          "best_batch": top["batch"], "best_images_per_second": top["images_per_second"]}
    return {"size": cfg["size"], "width": AttentionPurifier(preset="paper", **cfg["net_params"]).resolved()["width"],
            "rows": rows, "best": best}


def step_fit(cfg: dict[str, Any], out: Path, device: str) -> dict[str, Any]:
    """``train-purifier -p attention --preset paper`` for ``fit_steps`` Adam steps; steps/s from
    the checkpoint's own clock (the training loop, after data, loss network and targets)."""
    import torch

    with tempfile.TemporaryDirectory(prefix="gazebench-gpu-fit-") as tmp:
        # a fresh folder: an old OUT.partial would be resumed and nothing timed
        ckpt = Path(tmp) / "attention-paper.ckpt"
        args = ["train-purifier", "-p", "attention", "--preset", "paper", *cfg["fit_data"], "--device", device,
                "--out", str(ckpt), *_sets([f"attention.iterations={cfg['fit_steps']}", "attention.progress=false",
                                             "attention.checkpoint_every=1000000", *cfg["fit_sets"]])]
        if device.startswith("cuda"):
            args.append("--cudnn-benchmark")
        t0 = time.perf_counter()
        gazebench(*args)
        wall = time.perf_counter() - t0
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    info = state["fit_info"]
    steps = int(info["iterations"]) - int(info["resumed_from"])
    hist = state["history"].tolist()
    return {"command": "gazebench " + " ".join(args[:-2] if args[-1] == "--cudnn-benchmark" else args),
            "steps": steps, "train_seconds": info["seconds"], "steps_per_second": steps / info["seconds"],
            "command_seconds": wall, "params": state["params"], "first_loss": hist[0], "final_loss": hist[-1],
            "loss_network": state["notes"]}


def step_cnn(cfg: dict[str, Any], out: Path, device: str) -> dict[str, Any]:
    """The paper's gaze CNN: Adam training steps and inference, samples/s, fp32 and bf16."""
    import torch

    from gazebench.device import autocast, time_calls
    from gazebench_plugins.estimators.nets import GazeCNN

    b, k = cfg["cnn_batch"], cfg["cnn_steps"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, 1, 36, 60, generator=g).to(device)
    pose, y = torch.zeros(b, 2, device=device), torch.randn(b, 3, generator=g).to(device)
    rows = []
    for name, dtype, cl in VARIANTS:
        torch.manual_seed(0)
        net = GazeCNN((36, 60), head_pose=True, **cfg["cnn_params"]).to(device)
        xin = x
        if cl:
            net, xin = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)

        def train() -> None:
            net.train()
            for _ in range(k):
                with autocast(device, dtype):
                    loss = 0.5 * ((net(xin, pose).float() - y) ** 2).sum(1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        def infer() -> None:
            net.eval()
            with torch.no_grad(), autocast(device, dtype):
                for _ in range(k):
                    net(xin, pose)

        tt = time_calls(train, device, warmup=1, repeats=cfg["cnn_repeats"])
        ti = time_calls(infer, device, warmup=1, repeats=cfg["cnn_repeats"])
        rows.append({"variant": name, "batch": b, "steps_per_call": k,
                     "train_samples_per_second": b * k / statistics.median(tt),
                     "inference_samples_per_second": b * k / statistics.median(ti)})
    return {"input": [36, 60], "head_pose": True, "hidden": net.fc1.out_features, "rows": rows}


STEPS: list[tuple[str, Callable[[dict[str, Any], Path, str], dict[str, Any]]]] = [
    ("table1", step_table1), ("attention-throughput", step_throughput), ("purifier-fit", step_fit),
    ("cnn-throughput", step_cnn)]


def _fmt(v: Any, d: int = 1) -> str:
    return "n/a" if v is None else f"{v:,.{d}f}"


def readme(summary: dict[str, Any]) -> str:
    """The results folder's README: what ran, with which command, and the figures."""
    env = summary["environment"]
    lines = [f"# GPU suite: {env.get('device_name') or summary['device']}", "",
             f"`{summary['command']}` on {summary['started']} ({summary['total_seconds']:.0f} s in all; "
             f"torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}).",
             "Loss networks have random weights (`loss_weights=random`): the cost is the same as with "
             "trained ones.", ""]
    if summary["dry_run"]:
        lines[1:1] = ["", "**Dry run: tiny sizes and networks; it checks the script and measures nothing.**"]
    steps = summary["steps"]
    for name, st in steps.items():
        lines.append(f"## {name} ({_fmt(st.get('seconds'))} s)")
        lines.append("")
        if "error" in st:
            lines += [f"Failed: `{st['error']}`", ""]
            continue
        if "skipped" in st:
            lines += [f"Skipped: {st['skipped']}", ""]
            continue
        r = st["result"]
        if name == "table1":
            for rec in r["records"]:
                lines.append(f"- `{rec}`, `{rec[:-5]}.md`: seconds per image, speed-ups, GFLOP and fraction of "
                             "peak where the speed command measures them.")
        elif name == "attention-throughput":
            lines += [f"{r['size']} px, width {r['width']}, forward only.", "",
                      "| net / variant | images/s at batch 1 | best batch | images/s at best batch |", "|---|---|---|---|"]
            for k, v in r["best"].items():
                lines.append(f"| {k} | {_fmt(v['batch1_images_per_second'])} | {v['best_batch']} | "
                             f"{_fmt(v['best_images_per_second'])} |")
        elif name == "purifier-fit":
            lines += [f"`{r['command']}`", "",
                      f"{r['steps']} steps in {r['train_seconds']:.1f} s: **{r['steps_per_second']:.2f} steps/s** "
                      f"(loss {r['first_loss']:.4g} -> {r['final_loss']:.4g})."]
        elif name == "cnn-throughput":
            lines += ["| variant | batch | training samples/s | inference samples/s |", "|---|---|---|---|"]
            for row in r["rows"]:
                lines.append(f"| {row['variant']} | {row['batch']} | {_fmt(row['train_samples_per_second'], 0)} | "
                             f"{_fmt(row['inference_samples_per_second'], 0)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/gpu.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true",
                    help="tiny sizes (CPU unless --device cuda): checks the script, measures nothing")
    ap.add_argument("--device", default=None, help="cuda (default) or cuda:N; cpu only with --dry-run")
    ap.add_argument("--out", default=None, help="folder (default results/gpu/<device>/; --dry-run: a temporary one)")
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="skip the steps left once this many seconds have gone (default 480: 8 minutes)")
    ap.add_argument("--only", default=None, help="comma-separated steps: " + ",".join(n for n, _ in STEPS))
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no 48 s of retries on an offline machine
    import torch

    device = args.device or ("cpu" if args.dry_run else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("benchmarks/gpu.sh: no CUDA device here (torch.cuda.is_available() is False), so there is "
              "nothing to measure.\nRun it on a machine with an NVIDIA GPU, or `benchmarks/gpu.sh --dry-run` "
              "for the tiny CPU smoke run that checks the script.", file=sys.stderr)
        return 2
    if device == "cpu" and not args.dry_run:
        print("benchmarks/gpu.sh: --device cpu only with --dry-run (the CPU figures are `gazebench speed` "
              "and the pytest-benchmark suites)", file=sys.stderr)
        return 2
    from gazebench.device import cuda_settings
    from gazebench.io import write_json_atomic, write_text_atomic
    from gazebench.results import device_name, utc_now

    settings = cuda_settings(benchmark=True) if device.startswith("cuda") else cuda_settings()
    dev_name = device_name(device)
    if args.out:
        out = Path(args.out)
    elif args.dry_run:
        out = Path(tempfile.mkdtemp(prefix="gazebench-gpu-dry-run-"))
    else:
        out = ROOT / "results" / "gpu" / slug(dev_name)
    out.mkdir(parents=True, exist_ok=True)
    cfg = DRY if args.dry_run else FULL
    only = set(args.only.split(",")) if args.only else {n for n, _ in STEPS}
    unknown = only - {n for n, _ in STEPS}
    if unknown:
        print(f"benchmarks/gpu.sh: --only {','.join(sorted(unknown))}: unknown step", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {"schema": "gazebench.gpu-suite/1", "device": device,
                               "command": "benchmarks/gpu.sh " + " ".join(sys.argv[1:] if argv is None else argv),
                               "dry_run": args.dry_run, "started": utc_now(),
                               "environment": {**settings, "device_name": dev_name}, "steps": {}}
    t_all = time.perf_counter()
    failed = False
    for name, fn in STEPS:
        if name not in only:
            continue
        spent = time.perf_counter() - t_all
        if spent > args.budget_s:
            summary["steps"][name] = {"skipped": f"budget of {args.budget_s:.0f} s spent ({spent:.0f} s)"}
            continue
        print(f"[gpu suite] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            result = fn(cfg, out, device)
            step: dict[str, Any] = {"result": result}
            write_json_atomic(out / f"{name}.json", {"device": dev_name, "dry_run": args.dry_run, **result})
        except Exception as exc:  # one failed step must not lose the others' figures
            failed = True
            step = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=6)}
            print(f"[gpu suite] {name} failed: {step['error']}", file=sys.stderr)
        step["seconds"] = time.perf_counter() - t0
        summary["steps"][name] = step
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    summary["total_seconds"] = time.perf_counter() - t_all
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(out / "README.md", readme(summary) + "\n")
    print(f"[gpu suite] {summary['total_seconds']:.0f} s; wrote {out}/", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
