"""Round 11 (issue 18): how sharp each crop is, one number per image, real against renders.

    python results/realism/sharpness_tail.py [CODE ...] [--seeds 0,4] [--grid results/realism/r11-tail.png]

The issue's ``laplacian`` statistic is a mean over every pixel of a set; this prints its per-image
distribution (mean |4-neighbour Laplacian| of each crop, 10/50/90/99/100% quantiles) for the real
tuning patches 0:400 and for 400 ``synth-wild`` ``unlabelled`` renders per seed under each code (``G``,
``W``, ``C``, ``B``, ``K``, ``T``, ``L`` as in ``tune.py``; an empty code is the defaults). For the renders it
also gives each crop's range before the histogram equalisation (5-95% levels, the same draws
rendered without ``equalize`` and ``jpeg``, which leaves the other families' draws alone) and how
much of the sharpness that range explains: a face recorded 8-20 levels wide comes out of the
equalisation as noise. ``--grid`` writes the eight sharpest, eight median and eight smoothest crops
of the last code's first seed (rows, top to bottom), 3x. The held-out patches are never read.
"""

from __future__ import annotations

import argparse

import numpy as np

import blocks
from gazebench.realism import crop_laplacian as laplacian  # each crop's mean |4-neighbour Laplacian|

Q = (10, 50, 90, 99, 100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("codes", nargs="*", default=[""])
    p.add_argument("--seeds", default="0,4")
    p.add_argument("--grid", default=None, help="PNG path for the sharpest / median / smoothest crops")
    args = p.parse_args()
    real = np.load(blocks.REAL)["images"][:400].astype(np.float64)
    print(f"real 0:400        per-image Laplacian q{list(Q)}: {np.round(np.percentile(laplacian(real), Q), 1)}")
    for code in args.codes or [""]:
        print(f"== {code or '(defaults)'}")
        for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
            x = blocks.render(code, seed=seed)
            lap = laplacian(x)
            pre = blocks.render(code, seed=seed, params={"effects": "light,glare,tone,noise,blur"})
            lo, hi = np.percentile(pre.reshape(len(pre), -1), [5, 95], axis=1)
            span = hi - lo
            narrow = "; ".join(f"< {t} levels: {np.mean(span < t):.1%} of crops (median Laplacian "
                               f"{np.median(lap[span < t]) if (span < t).any() else float('nan'):.1f})" for t in (20, 40))
            print(f"render seed {seed:<3d}    per-image Laplacian q{list(Q)}: {np.round(np.percentile(lap, Q), 1)}; "
                  f"range before equalisation {narrow}; corr(Laplacian, 1/range) "
                  f"{np.corrcoef(lap, 1 / np.maximum(span, 1))[0, 1]:.2f}")
            if args.grid and i == 0:
                from PIL import Image

                o = np.argsort(lap)
                rows = [np.concatenate(list(x[idx]), 1) for idx in (o[-8:], o[len(o) // 2 - 4:len(o) // 2 + 4], o[:8])]
                g = np.concatenate(rows, 0).clip(0, 255).astype(np.uint8)
                Image.fromarray(g).resize((g.shape[1] * 3, g.shape[0] * 3), Image.NEAREST).save(args.grid)


if __name__ == "__main__":
    main()
