"""Round 6's coordinate search: co-tune the camera (noise, blur, tone) with a layout change.

    python results/realism/search_r6.py --fixed 'G.update(brow_y=(13.0, 16.0)); B.update(gain=0.6, follow=1.0)' \\
        --space camera --steps 3 --out r6-search-NAME.jsonl

Each knob below is one scalar ``a`` written into the renderer's module constants as code (``G``,
``W``, ``C``, ``B``, ``K``, ``T``, ``L`` as in ``tune.py``), so every point of the search is a code string
that ``tune.py`` replays exactly. The objective is the histogram classifier's accuracy on the
tuning split (real patches 0:400 against 400 ``synth-wild`` ``unlabelled`` renders, seed 0, or the
mean over ``--seeds`` render seeds; the held-out 400:600 are never read), ~3 s a point and seed: each knob in turn tries ``a - step`` and
``a + step`` and keeps the better if it lowers the objective by more than ``--min-gain``; a pass
with no move halves every step. Every point is appended to ``--out`` (the code, hist,
intensity/gradient, top-edge median and the block distances), the best code is printed last.
The convnet is not in the loop (30 s a point): score the search's result with ``tune.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import blocks

HERE = Path(__file__).resolve().parent

#: knob -> (code template with {a}, start value (version 2's), step, lower bound, upper bound)
KNOBS: dict[str, tuple[str, float, float, float, float]] = {
    # camera
    "read": ("W.update(read_noise=(1.5*{a:.3f}, 4.0*{a:.3f}))", 1.0, 0.3, 0.1, 3.0),
    "grain": ("W.update(grain=(1.0*{a:.3f}, 2.5*{a:.3f}))", 1.0, 0.3, 0.0, 3.0),
    "shot": ("W.update(shot_noise=(0.03*{a:.3f}, 0.12*{a:.3f}))", 1.0, 0.4, 0.0, 4.0),
    "blur": ("W.update(blur_px=(0.75*{a:.3f}, 1.3*{a:.3f}))", 1.0, 0.2, 0.3, 2.0),
    "exposure": ("T.update(exposure={a:.3f})", 0.2, 0.15, -0.5, 1.0),
    "exposure_sd": ("T.update(exposure_sd={a:.3f})", 0.25, 0.1, 0.0, 0.8),
    "gamma_sd": ("T.update(gamma_sd={a:.3f})", 0.25, 0.1, 0.0, 0.8),
    "contrast": ("T.update(contrast={a:.3f})", 0.15, 0.1, 0.0, 0.6),
    "noise_dark": ("T.update(noise_dark={a:.3f})", 0.0, 0.3, 0.0, 2.0),
    "sharpen": ("T.update(sharpen={a:.3f})", 0.0, 0.5, 0.0, 4.0),
    "sharpen_sigma": ("T.update(sharpen_sigma={a:.3f})", 1.0, 0.3, 0.4, 3.0),
    "coring": ("T.update(coring={a:.3f})", 3.0, 2.0, 0.0, 20.0),
    # light
    "ambient": ("W.update(ambient=(0.05*{a:.3f}, 0.25*{a:.3f}))", 1.0, 0.3, 0.0, 3.0),
    "elevation": ("W.update(elevation_deg=(50.0+{a:.2f}, 85.0))", 0.0, 10.0, -40.0, 30.0),
    "orbit": ("W.update(orbit_shade=(0.35*{a:.3f}, 0.8*{a:.3f}))", 1.0, 0.25, 0.0, 1.25),
    "iris": ("W.update(iris_gain=(0.25*{a:.3f}, 0.42*{a:.3f}))", 1.0, 0.2, 0.3, 2.0),
    "sclera": ("W.update(sclera_gain=(0.40*{a:.3f}, 0.77*{a:.3f}))", 1.0, 0.15, 0.5, 1.3),
    # layout (round 6's brow bone and cheek; start values are the --fixed code's, given by --start)
    "bgain": ("B.update(gain={a:.3f})", 0.6, 0.2, 0.0, 1.0),
    "bq": ("B.update(quantile={a:.3f})", 0.8, 0.1, 0.3, 1.0),
    "kgain": ("K.update(gain={a:.3f})", 0.6, 0.2, 0.0, 1.0),
    "kq": ("K.update(quantile={a:.3f})", 0.9, 0.1, 0.3, 1.0),
    "ky": ("K.update(y={a:.2f})", 7.5, 1.0, 4.0, 11.0),
    "browy": ("G.update(brow_y=(10.5+{a:.2f}, 14.0+{a:.2f}))", 2.5, 1.0, 0.0, 5.0),
    "bsoft": ("B.update(soft={a:.3f})", 1.0, 1.0, 0.3, 5.0),
    "ksoft": ("K.update(soft={a:.3f})", 1.0, 1.0, 0.3, 5.0),
    "crease": ("G.update(crease_dark=(0.1*{a:.3f}, 0.45*{a:.3f}))", 1.0, 0.3, 0.0, 2.2),
    # skin and lid (round 10's render.LID; texture is CREASE's albedo texture amplitude)
    "texture": ("C.update(texture={a:.3f})", 0.05, 0.03, 0.0, 0.3),
    "bulge": ("L.update(bulge={a:.3f})", 0.0, 0.5, 0.0, 3.0),
    "hollow": ("L.update(hollow={a:.3f})", 1.0, 0.25, 0.0, 1.5),
    "lidgain": ("L.update(gain={a:.3f})", 0.0, 0.2, 0.0, 1.0),
    "reach": ("W.update(orbit_reach=({a:.3f}, {a:.3f}))", 3.0, 1.0, 1.0, 8.0),
}
SPACES = {
    "camera": ["read", "grain", "shot", "blur", "exposure", "exposure_sd", "gamma_sd", "contrast", "noise_dark"],
    "isp": ["sharpen", "sharpen_sigma", "coring", "blur", "read", "grain"],
    "light": ["ambient", "elevation", "orbit", "iris", "sclera"],
    "layout": ["bgain", "bq", "kgain", "kq", "ky", "browy", "bsoft", "ksoft", "crease"],
    "lid": ["texture", "bulge", "hollow", "lidgain"],
}


def code_of(fixed: str, point: dict[str, float]) -> str:
    return "; ".join([c for c in [fixed.strip().rstrip(";")] if c] + [KNOBS[k][0].format(a=v) for k, v in point.items()])


def main() -> None:
    from gazebench.realism import domain_accuracy

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fixed", default="", help="code applied before the searched knobs")
    p.add_argument("--space", default="camera", help="comma-separated SPACES or knob names")
    p.add_argument("--start", default="{}", help="JSON start values of knobs (default: KNOBS' start)")
    p.add_argument("--steps", type=int, default=3, help="passes over the knobs")
    p.add_argument("--min-gain", type=float, default=0.004)
    p.add_argument("--seeds", default="0", help="render seeds whose hist accuracies are averaged (the tuning "
                   "split is seed 0; more seeds make the objective less noisy: version 2 reads 0.627-0.693 over seeds 0-4)")
    p.add_argument("--real", default="0:400", metavar="START:STOP",
                   help="the tuning patches to search against (default all of 0:400; round 9 searches one half, "
                        "0:200, and checks the result on the other with tune.py --real 200:400), as many renders")
    p.add_argument("--objective", choices=("whole", "rows"), default="whole",
                   help="whole: the hist classifier on the whole crop (rounds 6-9); rows: the mean of its accuracies "
                        "on rows 0:12, 12:24 and 24:36 alone (round 10: version 2 reads 0.63 whole but 0.78-0.86 on "
                        "each band, its regions' errors cancelling in the whole crop's histograms)")
    p.add_argument("--classifier", choices=("hist", "gradient", "intensity"), default="hist",
                   help="the objective's classifier (round 10: a candidate whose cost is all in the gradient "
                        "histogram is searched on `gradient`)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    r_lo, r_hi = (int(v) for v in args.real.split(":"))
    if not 0 <= r_lo < r_hi <= 400:
        raise SystemExit(f"--real {args.real}: the tuning patches are 0:400 (400:600 is the held-out split)")
    names = [k for s in args.space.split(",") for k in SPACES.get(s, [s])]
    seeds = [int(v) for v in args.seeds.split(",")]
    start = json.loads(args.start)
    point = {k: float(start.get(k, KNOBS[k][1])) for k in names}
    step = {k: KNOBS[k][2] for k in names}
    real = np.load(blocks.REAL)["images"][r_lo:r_hi].astype(np.float64)
    cache: dict[str, float] = {}

    def score(pt: dict[str, float]) -> float:
        code = code_of(args.fixed, pt)
        if code in cache:
            return cache[code]
        t0 = time.time()
        hs, whole = [], []
        for sd in seeds:
            x = blocks.render(code, n=r_hi - r_lo, seed=sd)
            whole.append(domain_accuracy(real, x, args.classifier)["accuracy"])
            if args.objective == "rows":
                hs.append(float(np.mean([domain_accuracy(np.ascontiguousarray(real[:, a:b]), np.ascontiguousarray(x[:, a:b]),
                                                         args.classifier)["accuracy"] for a, b in ((0, 12), (12, 24), (24, 36))])))
            else:
                hs.append(whole[-1])
        h = float(np.mean(hs))
        s = blocks.summary("", x)
        line = {"code": code, "point": {k: round(v, 4) for k, v in pt.items()}, "objective": args.objective,
                "classifier": args.classifier,
                "hist": round(h, 4), "hist_whole": round(float(np.mean(whole)), 4),
                "hist_per_seed": [round(v, 4) for v in hs],
                "top_edge_median": s["top_edge_quantiles"][2], "top_rows_mean": s["top_rows_mean"],
                "bottom_rows_mean": round(float(x[:, -2:].mean())),
                "blocks": {k: round(v, 1) for k, v in blocks.score(real, x).items()}, "s": round(time.time() - t0, 1)}
        with open(args.out, "a") as f:
            f.write(json.dumps(line) + "\n")
        print(f"{h:.4f} (whole {np.mean(whole):.4f}) {json.dumps(line['point'])}", flush=True)
        cache[code] = h
        return h

    best = score(point)
    for _ in range(args.steps):
        moved = False
        for k in names:
            lo, hi = KNOBS[k][3], KNOBS[k][4]
            for sgn in (-1, 1):
                trial = dict(point)
                trial[k] = float(np.clip(point[k] + sgn * step[k], lo, hi))
                if trial[k] == point[k]:
                    continue
                v = score(trial)
                if v < best - args.min_gain:
                    best, point, moved = v, trial, True
                    break
        if not moved:
            step = {k: v / 2 for k, v in step.items()}
    print("BEST", round(best, 4), json.dumps(code_of(args.fixed, point)))


if __name__ == "__main__":
    main()
