"""What the realism convnet keys on: the same classifier on transformed copies of both sets.

    python results/realism/convnet_keys.py coarse6   # 6x6-block means: the layout of light and dark only
    python results/realism/convnet_keys.py tiles6    # 6x6 tiles shuffled within each image: local texture only
    python results/realism/convnet_keys.py none      # untransformed (the tuning-split figure)

Tuning split (real patches 0:400 against 400 ``synth-wild`` ``unlabelled`` renders, seed 0), so the
held-out patches are never read. Prints the convnet's 5-fold accuracy, mean and std.
"""

from __future__ import annotations

import sys

import numpy as np

from tune import REAL


def coarse(x: np.ndarray, k: int = 6) -> np.ndarray:
    """Each k x k block replaced by its mean."""
    n, h, w = x.shape
    return x.reshape(n, h // k, k, w // k, k).mean((2, 4)).repeat(k, 1).repeat(k, 2)


def tiles(x: np.ndarray, k: int = 6, seed: int = 0) -> np.ndarray:
    """The k x k tiles of each image in a random order (seeded): texture kept, layout gone."""
    rng = np.random.default_rng(seed)
    n, h, w = x.shape
    t = x.reshape(n, h // k, k, w // k, k).transpose(0, 1, 3, 2, 4).reshape(n, -1, k, k)
    t = np.stack([ti[rng.permutation(len(ti))] for ti in t])
    return t.reshape(n, h // k, w // k, k, k).transpose(0, 1, 3, 2, 4).reshape(n, h, w)


def main() -> None:
    from gazebench.plugins import get_plugin_manager
    from gazebench.realism import domain_accuracy, load_set

    kind = sys.argv[1] if len(sys.argv) > 1 else "none"
    f = {"coarse6": coarse, "tiles6": tiles, "none": lambda x: x}[kind]
    real = np.load(REAL)["images"][:400].astype(np.float64)
    synth, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=400,
                        size=(36, 60), seed=0, params={})
    if kind == "tiles6":
        real, synth = tiles(real, seed=0), tiles(synth, seed=1)
    else:
        real, synth = f(real), f(synth)
    res = domain_accuracy(real, synth, "convnet", seed=0)
    print(f"{kind}: convnet {res['accuracy']:.3f} +- {res['std']:.3f}")


if __name__ == "__main__":
    main()
