"""Issue 18, round 15: can the renderer draw a person like the real participant? (tuning patches only)

    python results/realism/r15_nearest.py > results/realism/r15-nearest.txt
    python results/realism/r15_nearest.py --rank convnet > results/realism/r15-nearest-convnet.txt

The identity oracle (``r15_identity.py``) says a perfect renderer's population is told from one of its own
people at 0.58 by the convnet; version 3 is told from real p00 at 0.84. Either p00 is a kind of person the
renderer never draws, or every render is off in the same way whoever it draws. This ranks 300 procedural
people (15 subjects x render seeds 5-24, 100 ``test`` renders each, every wild draw as usual) by how far
their mean image is from the real patches 0:400's (RMS, levels), then measures the nearest six, the
farthest two and three at random the standard way (hist and convnet, ``gazebench.realism.compare``,
5 folds, seed 0) against real 0:200 and 200:400, 200 renders of that one person each. If the nearest
people are told from p00 about as well as one procedural person from the population (0.58-0.64), the
renderer can draw p00 and the gap is who it draws; if they stay near version 3's 0.84, the gap is in how
it draws everyone. ``--rank convnet`` ranks the people instead by how real a convnet trained on real 0:400
against the population (two renders of each of the 300 people, other indices; 400 used) finds their renders.
The held-out patches 400:600 are never read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gazebench.realism import compare
from gazebench_plugins.synth.latents import LatentConfig

from r15_identity import renders

HERE = Path(__file__).resolve().parent
REAL = Path(os.environ.get("GAZEBENCH_REAL", HERE.parents[1].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))
N_SUBJECTS = LatentConfig().n_subjects


def person(seed: int, subject: int, n: int, first: int = 0) -> np.ndarray:
    """``n`` gray ``test`` renders of one procedural person (indices ``k * 15 + subject``)."""
    return renders(np.arange(first, first + n) * N_SUBJECTS + subject, seed)


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rank", choices=("mean", "convnet"), default="mean",
                   help="rank the people by their mean image's distance to real's (mean), or by the mean logit of "
                        "a convnet trained on real 0:400 against 400 renders of the population, other draws (convnet)")
    a = p.parse_args()
    real = np.load(REAL)["images"][:400].astype(np.float64)
    target = real.mean(0)
    net = None
    if a.rank == "convnet":
        from gazebench.realism import cnn_input, train_cnn

        pop = np.concatenate([person(seed, s, 2, first=1000) for seed in range(5, 25) for s in range(N_SUBJECTS)])
        x = np.concatenate([real, pop[:400]])
        y = np.concatenate([np.zeros(400, np.int64), np.ones(400, np.int64)])    # 1: rendered
        torch.set_num_threads(1)
        net = train_cnn(x, y, 0)
    people = []
    for seed in range(5, 25):
        for subject in range(N_SUBJECTS):
            x = person(seed, subject, 100)
            if net is None:
                score = float(np.sqrt(((x.mean(0) - target) ** 2).mean()))
            else:
                with torch.no_grad():
                    score = float(net(cnn_input(x.astype(np.float32))).mean())
            people.append((score, seed, subject))
    people.sort()
    dist = np.asarray([p[0] for p in people])
    what = ("RMS distance of the mean image to real 0:400's, levels" if net is None else
            "mean convnet logit (positive: rendered) of the person's 100 renders")
    print(f"{len(people)} people: {what}: min {dist.min():.1f}, "
          f"5/50/95% {np.percentile(dist, 5):.1f} / {np.median(dist):.1f} / {np.percentile(dist, 95):.1f}, max {dist.max():.1f}")
    rng = np.random.default_rng(0)
    picks = ([("nearest", p) for p in people[:6]] + [("farthest", p) for p in people[-2:]]
             + [("random", people[i]) for i in rng.choice(np.arange(6, len(people) - 2), 3, replace=False)])
    print(f"| person (seed, subject) | {'mean-image RMS' if net is None else 'mean logit'} | hist vs real 0:200 / 200:400 | "
          "convnet vs real 0:200 / 200:400 |")
    print("| --- | --- | --- | --- |")
    for kind, (d, seed, subject) in picks:
        x = person(seed, subject, 200, first=100)        # other renders than the ranking's
        cells = {k: [] for k in ("hist", "convnet")}
        for half in (real[:200], real[200:400]):
            c = compare(half, x, classifiers=("hist", "convnet"), seed=0)
            for k in cells:
                cells[k].append(c["classifiers"][k]["accuracy"])
        print(f"| {kind} ({seed}, {subject}) | {d:.1f} | {cells['hist'][0]:.3f} / {cells['hist'][1]:.3f} | "
              f"{cells['convnet'][0]:.3f} / {cells['convnet'][1]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
