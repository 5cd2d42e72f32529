"""What the histogram classifier and the row texture see, real vs candidates (tuning split).

    python results/realism/hist_features.py --name r6_layout --code '...' [--name ... --code ...]

For real patches 0:400 and 400 ``synth-wild`` ``unlabelled`` renders (seed 0) under each code
(``G``, ``W``, ``C``, ``B``, ``K``, ``T`` as in ``tune.py``; the held-out patches are never read):
per bin of the 32-bin intensity and gradient-magnitude histograms (the ``hist`` classifier's
features), the candidate's mean share over the real one and the single-feature AUC (real 0,
render 1: below 0.5, the renders hold less of that bin); and the mean |horizontal difference| per
row (texture by height in the crop), the mean of the centre columns 20-39 per row (the eye's
profile) and, per image, that profile's steepest fall from one row to the next, its darkest row
and level (10/50/90% quantiles over the images). About 1 s a candidate.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import blocks


def profile(x: np.ndarray) -> None:
    """Print the centre-column profile lines of one set."""
    col = x[:, :, 20:40].mean(2)
    print("centre columns 20-39, mean by row:", col.mean(0).round())
    q = (10, 50, 90)
    print(f"per image {q}%: steepest fall (levels a row) {np.percentile(-np.diff(col, axis=1).min(1), q).round(1)}, "
          f"darkest row {np.percentile(col.argmin(1), q)}, darkest level {np.percentile(col.min(1), q).round()}")


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from gazebench.realism import gradient_histogram, intensity_histogram

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--code", action="append", default=[])
    p.add_argument("--name", action="append", default=[])
    p.add_argument("--params", default="{}", help="synth-wild dataset parameters for every candidate, JSON")
    args = p.parse_args()
    np.set_printoptions(linewidth=250, precision=2, suppress=True)
    real = np.load(blocks.REAL)["images"][:400].astype(np.float64)
    fr = np.concatenate([intensity_histogram(real), gradient_histogram(real)], 1)
    print("## real 0:400")
    print("mean |dx| by row:", np.abs(np.diff(real, axis=2)).mean((0, 2)))
    profile(real)
    for name, code in zip(args.name, args.code):
        x = blocks.render(code, params=json.loads(args.params))
        fs = np.concatenate([intensity_histogram(x), gradient_histogram(x)], 1)
        y = np.r_[np.zeros(len(fr)), np.ones(len(fs))]
        auc = np.array([roc_auc_score(y, np.r_[fr[:, j], fs[:, j]]) for j in range(fr.shape[1])])
        ratio = fs.mean(0) / np.maximum(fr.mean(0), 1e-6)
        print(f"## {name}")
        print("intensity bins (8 levels each), share / real:", ratio[:32])
        print("intensity bins, AUC:", auc[:32])
        print("gradient bins (4 levels each), share / real:", ratio[32:])
        print("gradient bins, AUC:", auc[32:])
        print("mean |dx| by row:", np.abs(np.diff(x, axis=2)).mean((0, 2)))
        profile(x)
        print()


if __name__ == "__main__":
    main()
