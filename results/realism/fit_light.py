"""Coordinate search of a few renderer ranges against the real patches' block statistics (and
optionally the histogram classifier), on the tuning split. Issue 18, round 3.

    python results/realism/fit_light.py --start c11 --space light --objective blocks
    python results/realism/fit_light.py --start-code "$(cat best.txt)" --space noise --objective hist

Each parameter is the centre of a uniform range (the width fixed, as in the candidate's code);
``--space`` picks the parameters: ``light`` (the light's azimuth centre and half-width, its pull
to the sides, its off-axis angle, ambient, wrap), ``geometry`` (zoom, vertical shift, lid
cover, iris radius, opening; iris, sclera and orbit gains), ``noise`` (read noise, grain, shot
noise, blur, skin texture amplitude, crease darkness), comma-joined for several. Objectives:
``blocks`` = the sum of ``blocks.score`` (RMS gaps of 6x6-block means, spreads, signed LR/TB
quantiles; no classifier, ~0.5 s per step), ``hist`` = the histogram classifier's 5-fold
accuracy + 0.004 x that sum (~2.5 s per step). Steps that lower the objective by more than
``--tol`` are kept; up to three sweeps. Prints every kept step and the final code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from blocks import REAL, render, score  # type: ignore[import-not-found]

HERE = Path(__file__).resolve().parent

# name -> (start centre, half-width of the range, steps tried, (min, max), the code it writes)
SPACES: dict[str, dict[str, tuple]] = {
    "light": {
        "az_c": (180.0, None, (-60, -30, 30, 60), (-360, 360)),
        "az_hw": (180.0, None, (-60, -30, 30), (10, 180)),
        "pull": (0.5, None, (-0.25, 0.25), (0, 0.9)),
        "el_c": (67.5, 17.5, (-15, -7.5, 7.5), (20, 80)),
        "amb_c": (0.15, 0.1, (-0.05, 0.05, 0.1), (0.1, 0.5)),
        "wrap_c": (0.0, 0.0, (0.2, 0.4), (0, 1.2)),
    },
    "geometry": {
        "scale": (1.125, 0.075, (-0.1, -0.05, 0.05, 0.1), (0.8, 1.5)),
        "shift_y": (-2.0, 1.0, (-1, -0.5, 0.5, 1, 1.5), (-4, 2)),
        "cover": (1.2, 0.8, (-0.4, 0.4), (0.8, 3)),
        "iris_r": (5.95, 0.35, (-0.3, 0.3, 0.6), (5, 7.5)),
        "openness": (0.95, 0.15, (-0.1, 0.1, 0.2), (0.75, 1.4)),
        "iris_gain": (0.335, 0.08, (-0.08, 0.08), (0.1, 0.9)),
        "sclera_gain": (0.675, 0.17, (-0.15, 0.15), (0.2, 0.8)),
        "orbit_shade": (0.575, 0.2, (-0.15, 0.15), (0.5, 0.75)),
    },
    "noise": {
        "read_noise": (2.75, 1.25, (-1, -0.5, 0.5, 1), (1.3, 6)),
        "grain": (1.75, 0.75, (-0.75, -0.4, 0.4, 0.75), (0.8, 4)),
        "shot_noise": (0.075, 0.045, (-0.04, 0.04), (0.045, 0.2)),
        "blur_px": (1.025, 0.275, (-0.2, -0.1, 0.1, 0.2), (0.3, 2)),
        "texture": (0.05, 0.0, (0.05, 0.1, 0.2), (0, 0.5)),
        "crease_dark": (0.45, 0.15, (-0.15, 0.15), (0.15, 0.75)),
    },
}
GEO = {"scale", "shift_y", "cover", "iris_r", "openness", "crease_dark"}


def code_of(p: dict[str, float], space: dict[str, tuple]) -> str:
    """The tune.py-style code that sets the ranges of ``p`` (centres) with the spaces' widths."""
    out = []
    for k, v in p.items():
        hw = space[k][1]
        if k == "az_c":
            hwa = p.get("az_hw", 180.0)
            out.append(f"W.update(azimuth_deg=({v - hwa:.1f}, {v + hwa + 1e-3:.1f}))")
        elif k == "az_hw":
            continue
        elif k == "pull":
            out.append(f"W.update(side_pull=({v:.2f}, {v:.2f}))")
        elif k in ("el_c", "amb_c", "wrap_c"):
            key = {"el_c": "elevation_deg", "amb_c": "ambient", "wrap_c": "wrap"}[k]
            out.append(f"W.update({key}=({max(0.0, v - hw):.3f}, {v + hw:.3f}))")
        elif k == "texture":
            out.append(f"C.update(texture={v:.3f})")
        else:
            table = "G" if k in GEO else "W"
            out.append(f"{table}.update({k}=({v - hw:.3f}, {v + hw:.3f}))")
    return "; ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start", default="c11", help="a candidate's name in --log-from, or 'v2'")
    ap.add_argument("--start-code", default=None, help="start from this code instead")
    ap.add_argument("--log-from", default=str(HERE / "v3-candidates.jsonl"))
    ap.add_argument("--space", default="light")
    ap.add_argument("--objective", choices=("blocks", "hist"), default="blocks")
    ap.add_argument("--tol", type=float, default=None)
    args = ap.parse_args()
    if args.start_code is not None:
        base = args.start_code
    elif args.start == "v2":
        base = ""
    else:
        base = next(json.loads(line)["code"] for line in open(args.log_from) if json.loads(line)["name"] == args.start)
    space = {k: v for s in args.space.split(",") for k, v in SPACES[s].items()}
    tol = args.tol if args.tol is not None else (0.2 if args.objective == "blocks" else 0.005)
    real = np.load(REAL)["images"][:400].astype(np.float64)

    def f(p: dict[str, float]) -> tuple[float, dict]:
        code = "; ".join(c for c in (base, code_of(p, space)) if c)
        x = render(code)
        sc = score(real, x)
        info = {k: round(v, 1) for k, v in sc.items()}
        obj = sum(sc.values())
        if args.objective == "hist":
            from gazebench.realism import domain_accuracy
            acc = domain_accuracy(real, x, "hist", seed=0)["accuracy"]
            info["hist"] = round(acc, 3)
            obj = acc + 0.004 * obj
        return obj, info

    p = {k: v[0] for k, v in space.items()}
    best, info = f(p)
    print("start", round(best, 3), info, flush=True)
    for sweep in range(3):
        improved = False
        for k, (_, _, steps, (lo, hi)) in space.items():
            for d in steps:
                q = dict(p)
                q[k] = min(max(p[k] + d, lo), hi)
                if q == p:
                    continue
                v, i = f(q)
                if v < best - tol:
                    best, info, p, improved = v, i, q, True
                    print(sweep, k, round(q[k], 3), round(best, 3), info, flush=True)
        if not improved:
            break
    print("final", round(best, 3), info)
    print("; ".join(c for c in (base, code_of(p, space)) if c))


if __name__ == "__main__":
    main()
