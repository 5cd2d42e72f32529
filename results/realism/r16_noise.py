"""Issue 18, round 16: does plain noise lower the convnet, as the refiners trained against its architecture did?

    python results/realism/r16_noise.py > results/realism/r16-noise.txt

Version 3 renders (draw 15, 200 unlabelled) with Gaussian noise of sd 0, 10, 20 and 40 levels added after the
whole pipeline (clipped, rounded), against the real patches 200:400: hist, convnet and the target statistics'
relative gaps. Tuning patches only.
"""
import os
from pathlib import Path

import numpy as np

from gazebench.plugins import get_plugin_manager
from gazebench.realism import compare, load_set, relative_gaps

REAL = Path(os.environ.get("GAZEBENCH_REAL", Path(__file__).resolve().parents[2].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))
pm = get_plugin_manager()
real = np.load(REAL)["images"][200:400].astype(np.float64)
x, _ = load_set(pm, "synth-wild", root=None, split="unlabelled", slice_=None, n=200, size=(36, 60), seed=15, params={})
rng = np.random.default_rng(0)
for sd in (0, 10, 20, 40):
    y = np.clip(x + rng.normal(0, sd, x.shape), 0, 255).round() if sd else x
    c = compare(real, y.astype(np.float64), classifiers=("hist", "convnet"), seed=0)
    g = relative_gaps(c["statistics"]["a"], c["statistics"]["b"])
    print(f"noise sd {sd:2d}:", {k: round(c["classifiers"][k]["accuracy"], 3) for k in ("hist", "convnet")},
          "gaps", {k: round(v, 2) for k, v in g.items()}, flush=True)
