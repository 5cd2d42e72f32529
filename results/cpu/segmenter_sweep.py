"""The U-Net segmenter sweep (issue 12's masks question): one lever at a time, scored by
``gazebench segment-eval`` on 200 ``synth-wild`` test eyes, fitted on 1,000 clean ``synth``.

    python results/cpu/segmenter_sweep.py run [--points LABEL,...] [--seeds 0,1]
    python results/cpu/segmenter_sweep.py table          # -> segmenter_sweep.md from the .jsonl

Each (setting, segmenter seed) is exactly the command printed beside it in the table
(``gazebench segment-eval -s unet --json -o unet.seed=N ...``); results are appended to
``segmenter_sweep.jsonl`` one line per fit, so an interrupted sweep resumes (done points skip).
The data is the same for every row (``--seed 0``): only the segmenter's seed changes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
JSONL = HERE / "segmenter_sweep.jsonl"
GAZEBENCH = str(Path(sys.executable).with_name("gazebench"))

#: (label, unet parameters); each differs from the row it builds on in one lever
GRID: list[tuple[str, dict[str, Any]]] = [
    ("basic augmentation (old default)", {"augment": "basic", "loss": "ce", "norm": "fixed"}),
    ("wild augmentation", {"augment": "wild", "loss": "ce", "norm": "fixed"}),
    ("wild, no equalize/jpeg families", {"augment": "albedo,geometry,shading,gamma,noise,blur,grain", "loss": "ce",
                                         "norm": "fixed"}),
    ("wild, no albedo/geometry families", {"augment": "shading,gamma,noise,blur,grain,equalize,jpeg", "loss": "ce",
                                           "norm": "fixed"}),
    ("wild + input equalisation", {"augment": "wild", "loss": "ce", "norm": "equalize"}),
    ("wild + per-image standardisation", {"augment": "wild", "loss": "ce", "norm": "standardize"}),
    ("wild + CE + Dice", {"augment": "wild", "loss": "dice", "norm": "fixed"}),
    ("wild + class-balanced CE", {"augment": "wild", "loss": "balanced", "norm": "fixed"}),
    ("wild + CE + Dice, 700 steps", {"augment": "wild", "loss": "dice", "norm": "fixed", "iterations": 700}),
    ("wild + CE + Dice + per-image standardisation", {"augment": "wild", "loss": "dice", "norm": "standardize"}),
]
REGIONS = ("sclera", "iris", "pupil")
#: the reading of the table (measured 2026-11-28, this machine, 2-core x86_64, shared/noisy)
CHOICE = [
    "Chosen default: **wild augmentation + CE + Dice + per-image standardisation, 400 steps**",
    "(`unet` with no options): the best mean IoU among the settings whose fit stays within the",
    "~90 s budget. 700 steps is better still (+0.02) but costs 1.75x the steps: the first U-Net's",
    "400 steps took 49 s on a quiet machine, and one step of the new augmentation + loss measured",
    "1.27x one old step (median of 5 interleaved 25-step fits, 242 vs 191 ms, machine loaded), so",
    "700 steps would be ~100 s quiet. Use `-o unet.iterations=700` where the time is there.",
    "Fit seconds in the table were measured while other jobs shared the 2 cores (up to 3x slower",
    "than quiet); compare them only within a row's seeds.",
]


def command(params: dict[str, Any], seed: int) -> list[str]:
    sets = [f"unet.{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in {**params, "seed": seed}.items()]
    return ["gazebench", "segment-eval", "-s", "unet", "--train", "synth", "--test", "synth-wild", "--json",
            *[a for s in sets for a in ("-o", s)]]


def done() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JSONL.read_text().splitlines() if line.strip()] if JSONL.exists() else []


def run(labels: list[str], seeds: list[int]) -> None:
    have = {(r["label"], r["seed"]) for r in done()}
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    for label, params in GRID:
        if labels and label not in labels and str(GRID.index((label, params))) not in labels:
            continue
        for seed in seeds:
            if (label, seed) in have:
                continue
            cmd = command(params, seed)
            print("$", shlex.join(cmd), flush=True)
            out = subprocess.run([GAZEBENCH, *cmd[1:]], env=env, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout)["rows"][0]
            rec = {"label": label, "params": params, "seed": seed, "command": shlex.join(cmd), **row}
            with JSONL.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)


def table() -> str:
    rows = done()
    lines = ["| setting | seeds | sclera | iris | pupil | mean IoU (s/i/p) | pupil err px | fit s |",
             "|---|---|---|---|---|---|---|---|"]
    per_seed = ["| setting | seed | skin | sclera | iris | pupil | pupil err px | fit s |",
                "|---|---|---|---|---|---|---|---|"]
    for label, _ in GRID:
        rs = sorted([r for r in rows if r["label"] == label], key=lambda r: r["seed"])
        if not rs:
            continue

        def med(key: str) -> str:
            vals = [r[key] for r in rs if r[key] is not None]
            return f"{statistics.mean(vals):.3f}" + (f" ({min(vals):.3f}-{max(vals):.3f})" if len(vals) > 1 else "")

        miou = [statistics.mean(r[f"iou_{k}"] for k in REGIONS) for r in rs]
        fit = [r["fit_seconds"] for r in rs]
        lines.append(f"| {label} | {','.join(str(r['seed']) for r in rs)} | "
                     + " | ".join(med(f"iou_{k}") for k in REGIONS)
                     + f" | **{statistics.mean(miou):.3f}** ({min(miou):.3f}-{max(miou):.3f}) | "
                     + f"{med('pupil_centre_err_px')} | {statistics.median(fit):.0f} ({min(fit):.0f}-{max(fit):.0f}) |")
        for r in rs:
            per_seed.append(f"| {label} | {r['seed']} | " + " | ".join(
                f"{r[f'iou_{k}']:.3f}" for k in ("skin", *REGIONS))
                + f" | {r['pupil_centre_err_px']:.2f} | {r['fit_seconds']:.0f} |")
    cmds = ["", "Commands (one per row and seed; `OMP_WAIT_POLICY=PASSIVE`, this machine, 2-core x86_64, "
            "shared with other jobs, so fit seconds are noisy):", "", "```bash"]
    cmds += [r["command"] for r in sorted(rows, key=lambda r: ([g[0] for g in GRID].index(r["label"]), r["seed"]))]
    cmds.append("```")
    head = ["# U-Net segmenter sweep: IoU on 200 `synth-wild` test eyes, fitted on 1,000 clean `synth`", "",
            "Generated by `python results/cpu/segmenter_sweep.py table` from `segmenter_sweep.jsonl`;",
            "the runs: `python results/cpu/segmenter_sweep.py run --seeds 0,1`. Mean over segmenter",
            "seeds (min-max in brackets); mean IoU is the mean of sclera, iris and pupil.", ""]
    return "\n".join(head + lines + ["", *CHOICE, "", "Per seed:", ""] + per_seed + cmds) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["run", "table"])
    ap.add_argument("--points", default="", help="labels or grid indices, comma-separated (default all)")
    ap.add_argument("--seeds", default="0,1")
    a = ap.parse_args()
    if a.what == "run":
        run([p for p in a.points.split(",") if p], [int(s) for s in a.seeds.split(",")])
    (HERE / "segmenter_sweep.md").write_text(table())
    print((HERE / "segmenter_sweep.md").read_text())


if __name__ == "__main__":
    main()
