"""Round 11 (issue 18): hist_probe.py over several render draws, with the statistics' gaps.

    python results/realism/hist_seeds.py [--seeds 0,1,2,3,4] [--params JSON] CODE [CODE ...]

For each code (``G``, ``W``, ``C``, ``B``, ``K``, ``T``, ``L`` as in ``tune.py``; "" is the defaults): the hist,
intensity and gradient classifiers' accuracies (real patches 0:400 against 400 ``synth-wild``
``unlabelled`` renders per seed, mean over the seeds), the mean gradient-histogram share per group of
bins (0-4, 4-8, 8-16, 16-32, 32-64, 64+ levels) and the intensity share per group over real's, and the
five target statistics' gaps to real. The held-out patches are never read; about 5 s a code and seed.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import blocks

GRADIENT_GROUPS = [0, 1, 2, 4, 8, 16, 32]       # bins of 4 levels: 0-4, 4-8, 8-16, 16-32, 32-64, 64+
INTENSITY_GROUPS = [0, 8, 12, 16, 20, 24, 28, 32]  # bins of 8 levels


def groups(h: np.ndarray, edges: list[int]) -> list[float]:
    return [float(h[a:b].sum()) for a, b in zip(edges[:-1], edges[1:])]


def main() -> None:
    from gazebench.realism import (TARGET_STATISTICS, domain_accuracy, gradient_histogram, image_statistics,
                                   intensity_histogram)

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("codes", nargs="+")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--params", default="{}", help="synth-wild dataset parameters, JSON")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    params = json.loads(args.params)
    real = np.load(blocks.REAL)["images"][:400].astype(np.float64)
    ri, rg = intensity_histogram(real).mean(0), gradient_histogram(real).mean(0)
    rs = image_statistics(real)
    print("real gradient shares", " ".join(f"{v:.3f}" for v in groups(rg, GRADIENT_GROUPS)))
    for code in args.codes:
        acc: dict[str, list[float]] = {k: [] for k in ("hist", "intensity", "gradient")}
        gi, gg, st = [], [], []
        for s in seeds:
            x = blocks.render(code, seed=s, params=params)
            for k in acc:
                acc[k].append(domain_accuracy(real, x, k)["accuracy"])
            gi.append(intensity_histogram(x).mean(0))
            gg.append(gradient_histogram(x).mean(0))
            st.append(image_statistics(x))
        gaps = {k: np.mean([v[k] for v in st]) / rs[k] - 1 for k in TARGET_STATISTICS}
        print(" ".join(f"{k} {np.mean(v):.3f}" for k, v in acc.items()),
              "| gradient x", " ".join(f"{a / b:.2f}" for a, b in zip(groups(np.mean(gg, 0), GRADIENT_GROUPS),
                                                                      groups(rg, GRADIENT_GROUPS))),
              "| intensity x", " ".join(f"{a / b:.2f}" for a, b in zip(groups(np.mean(gi, 0), INTENSITY_GROUPS),
                                                                        groups(ri, INTENSITY_GROUPS))),
              "|", " ".join(f"{k} {v:+.0%}" for k, v in gaps.items()), "|", code or "(defaults)", flush=True)


if __name__ == "__main__":
    main()
