"""Issue 18, round 15: can the renderer draw a person like the real participant? (tuning patches only)

    python results/realism/r15_nearest.py > results/realism/r15-nearest.txt

The identity oracle (``r15_identity.py``) says a perfect renderer's population is told from one of its own
people at 0.58 by the convnet; version 3 is told from real p00 at 0.84. Either p00 is a kind of person the
renderer never draws, or every render is off in the same way whoever it draws. This ranks 300 procedural
people (15 subjects x render seeds 5-24, 100 ``test`` renders each, every wild draw as usual) by how far
their mean image is from the real patches 0:400's (RMS, levels), then measures the nearest six, the
farthest two and three at random the standard way (hist and convnet, ``gazebench.realism.compare``,
5 folds, seed 0) against real 0:200 and 200:400, 200 renders of that one person each. If the nearest
people are told from p00 about as well as one procedural person from the population (0.58-0.64), the
renderer can draw p00 and the gap is who it draws; if they stay near version 3's 0.84, the gap is in how
it draws everyone. The held-out patches 400:600 are never read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gazebench.realism import compare
from gazebench_plugins.synth.latents import LatentConfig, sample_latents
from gazebench_plugins.synth.render import render
from gazebench_plugins.synth.wild import degrade, wild_light, wild_uniforms

HERE = Path(__file__).resolve().parent
REAL = Path(os.environ.get("GAZEBENCH_REAL", HERE.parents[1].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))
N_SUBJECTS = LatentConfig().n_subjects


def person(seed: int, subject: int, n: int, first: int = 0) -> np.ndarray:
    """``n`` gray ``test`` renders of one procedural person (indices ``k * 15 + subject``)."""
    idx = (np.arange(first, first + n) * N_SUBJECTS + subject)
    lat = sample_latents(torch.as_tensor(idx), seed=seed, split="test", config=LatentConfig())
    u = wild_uniforms(lat)
    r = render(lat, (36, 60), wild_light(lat, u, 1.0))
    return degrade(r.image, lat, u, r.ppm, channels=1)[:, 0].numpy().astype(np.float64)


def main() -> None:
    real = np.load(REAL)["images"][:400].astype(np.float64)
    target = real.mean(0)
    people = []
    for seed in range(5, 25):
        for subject in range(N_SUBJECTS):
            m = person(seed, subject, 100).mean(0)
            people.append((float(np.sqrt(((m - target) ** 2).mean())), seed, subject))
    people.sort()
    dist = np.asarray([p[0] for p in people])
    print(f"{len(people)} people: RMS distance of the mean image to real 0:400's, levels: min {dist.min():.1f}, "
          f"5/50/95% {np.percentile(dist, 5):.1f} / {np.median(dist):.1f} / {np.percentile(dist, 95):.1f}, max {dist.max():.1f}")
    rng = np.random.default_rng(0)
    picks = ([("nearest", p) for p in people[:6]] + [("farthest", p) for p in people[-2:]]
             + [("random", people[i]) for i in rng.choice(np.arange(6, len(people) - 2), 3, replace=False)])
    print("| person (seed, subject) | mean-image RMS | hist vs real 0:200 / 200:400 | convnet vs real 0:200 / 200:400 |")
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
