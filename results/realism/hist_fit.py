"""Round 11 (issue 18): fit renderer knobs to the real patches' mean histogram features, in the metric
the linear hist classifier sees.

    python results/realism/hist_fit.py "BASE CODE" OUT.json [--real 0:400] [--iters 3] [--ridge 0.01] \
        [--seeds 0,1,2] [--knobs read,blur,...] [--start JSON] [--features hist|hist,bands]

The hist classifier is a logistic regression on standardised 32-bin intensity and gradient histograms,
so what it can use is the difference of the two sets' mean feature vectors in the metric of their
pooled covariance. This whitens the features once (covariance of real and the starting renders, shrunk
30% towards its mean variance), then takes Gauss-Newton steps on the knobs in ``KN`` (each a template
applied after BASE, start value, step, bounds): finite differences of the whitened mean difference, one
knob step at a time, on the same render draws (so each difference is the knob's, not the draw's), a
ridge in units of steps, and a line search (t = 0.5, 1) that keeps the point with the lowest hist
accuracy (real patches ``--real`` against as many ``unlabelled`` renders, mean over ``--seeds``). OUT
holds every point measured and the final code, which ``tune.py`` replays. The held-out patches are
never read. About 2-3 min an iteration with 19 knobs on 0:400, one thread. The convnet is not in the
loop: score the result with ``tune.py``.

``KN``'s templates scale round 11's starting candidate's values (r11_nb_sulc15_blur: read noise 1.05-2.8,
blur 0.86-1.5, exposure sd 0.15, contrast 0.05, gamma sd 0.35, sclera 0.25-0.5, eye fill 0.3-0.7, skin
texture 0.02), not version 2's: every knob at its start value writes that candidate's camera and light
over BASE.
"""
from __future__ import annotations

import argparse
import functools
import json

import numpy as np

import blocks
from gazebench.realism import domain_accuracy, gradient_histogram, intensity_histogram

# knob -> (template with {a}, start, step, lo, hi)
KN = {
    "read": ("W.update(read_noise=(1.05*{a:.4f}, 2.8*{a:.4f}))", 1.0, 0.2, 0.2, 3.0),
    "grain": ("W.update(grain=(1.0*{a:.4f}, 2.5*{a:.4f}))", 1.0, 0.2, 0.0, 3.0),
    "shot": ("W.update(shot_noise=(0.03*{a:.4f}, 0.12*{a:.4f}))", 1.0, 0.3, 0.0, 4.0),
    "blur": ("W.update(blur_px=(0.86*{a:.4f}, 1.5*{a:.4f}))", 1.0, 0.1, 0.4, 2.0),
    "exposure": ("T.update(exposure=0.2+{a:.4f})", 0.0, 0.15, -0.7, 0.8),
    "exposure_sd": ("T.update(exposure_sd=0.15*{a:.4f})", 1.0, 0.4, 0.0, 4.0),
    "gamma_sd": ("T.update(gamma_sd=0.35*{a:.4f})", 1.0, 0.25, 0.0, 2.5),
    "contrast": ("T.update(contrast=0.05*{a:.4f})", 1.0, 1.0, 0.0, 8.0),
    "ambient": ("W.update(ambient=(0.05*{a:.4f}, 0.25*{a:.4f}))", 1.0, 0.3, 0.0, 3.0),
    "diffuse": ("W.update(diffuse=(0.65*{a:.4f}, 1.35*{a:.4f}))", 1.0, 0.15, 0.4, 2.0),
    "elevation": ("W.update(elevation_deg=(50.0+{a:.3f}, 85.0))", 0.0, 8.0, -40.0, 30.0),
    "orbit": ("W.update(orbit_shade=(0.35*{a:.4f}, 0.8*{a:.4f}))", 1.0, 0.2, 0.0, 1.25),
    "iris": ("W.update(iris_gain=(0.25*{a:.4f}, 0.42*{a:.4f}))", 1.0, 0.2, 0.3, 2.0),
    "sclera": ("W.update(sclera_gain=(0.25*{a:.4f}, 0.5*{a:.4f}))", 1.0, 0.15, 0.4, 1.8),
    "eye_fill": ("W.update(eye_fill=(0.3*{a:.4f}, 0.7*{a:.4f}))", 1.0, 0.3, 0.0, 1.4),
    "texture": ("C.update(texture=0.02*{a:.4f})", 1.0, 1.0, 0.0, 8.0),
    "lash": ("G.update(lash=(0.4*{a:.4f}, 1.0*{a:.4f}))", 1.0, 0.3, 0.0, 2.5),
    "iris_r": ("G.update(iris_r=(5.6+{a:.4f}, 6.3+{a:.4f}))", 0.0, 0.3, -1.0, 1.5),
    "openness": ("G.update(openness=(0.8*{a:.4f}, 1.1*{a:.4f}))", 1.0, 0.08, 0.6, 1.3),
    "ae": ("T.update(auto_exposure={a:.4f})", 0.0, 0.3, 0.0, 1.0),
}


def code_of(base, pt):
    return "; ".join([c for c in [base.strip().rstrip(";")] if c] + [KN[k][0].format(a=v) for k, v in pt.items()])


FEATS = "hist"


def feats(x):
    f = [intensity_histogram(x), gradient_histogram(x)] if "hist" in FEATS else []
    if "bands" in FEATS:
        for a, z in ((0, 12), (12, 24), (24, 36)):
            f += [intensity_histogram(x[:, a:z], bins=16), gradient_histogram(x[:, a:z], bins=16)]
    return np.concatenate(f, 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base"); p.add_argument("out")
    p.add_argument("--real", default="0:200"); p.add_argument("--iters", type=int, default=2)
    p.add_argument("--seeds", default="0,1,2"); p.add_argument("--knobs", default=",".join(KN))
    p.add_argument("--ridge", type=float, default=0.3)
    p.add_argument("--start", default="{}")
    p.add_argument("--features", default="hist", help="hist (the whole crop's 64 bins) and/or bands (16+16 bins on "
                   "each of rows 0:12, 12:24, 24:36), comma-separated")
    a = p.parse_args()
    global FEATS
    FEATS = a.features
    lo, hi = map(int, a.real.split(":"))
    real = np.load(blocks.REAL)["images"][lo:hi].astype(np.float64)
    seeds = [int(s) for s in a.seeds.split(",")]
    names = a.knobs.split(",")
    n = len(real)
    fr = feats(real)

    @functools.lru_cache(maxsize=2 * len(seeds))
    def renders(code, seed):
        # a point's renders serve its features and its hist accuracy alike: render once
        return blocks.render(code, n=n, seed=seed)

    def mean_feats(pt):
        return np.mean([feats(renders(code_of(a.base, pt), s)).mean(0) for s in seeds], 0)

    def hist_acc(pt):
        return np.mean([domain_accuracy(real, renders(code_of(a.base, pt), s), "hist")["accuracy"] for s in seeds])

    pt = {k: KN[k][1] for k in names}
    pt.update(json.loads(a.start))
    f0 = np.concatenate([feats(renders(code_of(a.base, pt), s)) for s in seeds])
    # metric: pooled covariance of the standardised features (as StandardScaler + a linear model), shrunk
    sd = np.concatenate([fr, f0]).std(0) + 1e-6
    z = np.concatenate([(fr - fr.mean(0)) / sd, (f0 - f0.mean(0)) / sd])
    cov = np.cov(z.T)
    cov = 0.7 * cov + 0.3 * np.eye(len(cov)) * np.trace(cov) / len(cov)
    w, v = np.linalg.eigh(cov)
    Wh = v @ np.diag(w ** -0.5) @ v.T   # whitening
    def dist(mu):
        d = Wh @ ((mu - fr.mean(0)) / sd)
        return float(d @ d), d
    log = []
    for it in range(a.iters):
        mu0 = mean_feats(pt)
        D0, d0 = dist(mu0)
        acc0 = hist_acc(pt)
        print(f"iter {it}: D {D0:.3f} hist {acc0:.3f} {json.dumps({k: round(v, 3) for k, v in pt.items()})}", flush=True)
        log.append({"iter": it, "D": D0, "hist": acc0, "point": dict(pt)})
        J = []
        for k in names:
            q = dict(pt); step = KN[k][2]
            q[k] = min(KN[k][4], pt[k] + step) if pt[k] + step <= KN[k][4] else pt[k] - step
            h = q[k] - pt[k]
            mu = mean_feats(q)
            J.append((dist(mu)[1] - d0) / (h / KN[k][2]))   # per step unit
        J = np.array(J).T   # (64, K)
        print("  |J| per step:", {k: round(float(np.linalg.norm(J[:, i])), 3) for i, k in enumerate(names)}, "|d0|", round(float(np.linalg.norm(d0)), 3), flush=True)
        # min ||d0 + J s||^2 + ridge ||s||^2 (s in steps)
        s = np.linalg.solve(J.T @ J + a.ridge * np.eye(len(names)), -J.T @ d0)
        print("  step (in knob steps):", {k: round(float(v), 2) for k, v in zip(names, s)}, flush=True)
        best = (acc0, D0, dict(pt))
        for t in (0.5, 1.0):
            q = {k: float(np.clip(pt[k] + t * s[i] * KN[k][2], KN[k][3], KN[k][4])) for i, k in enumerate(names)}
            Dq, _ = dist(mean_feats(q))
            acc = hist_acc(q)
            print(f"  t={t}: D {Dq:.3f} hist {acc:.3f}", flush=True)
            log.append({"iter": it, "t": t, "D": Dq, "hist": acc, "point": q})
            if acc < best[0]:
                best = (acc, Dq, q)
        pt = best[2]
    print("FINAL", json.dumps(code_of(a.base, pt)))
    json.dump({"base": a.base, "log": log, "final": code_of(a.base, pt)}, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
