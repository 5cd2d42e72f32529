"""Issue 18, round 15: what does the realism convnet read as "rendered"? (tuning patches only)

    python results/realism/r15_sensitivity.py > results/realism/r15-sensitivity.txt

The convnet of ``gazebench realism`` is trained exactly as ``domain_accuracy`` trains it (``train_cnn``,
5 stratified folds, seed 0) on real patches 0:400 against 400 version 3 ``synth-wild`` ``unlabelled``
renders (seed 0, as ``tune.py``'s tuning split). Each fold's net then classifies its held-out images
after one manipulation at a time, the same for both sets: the share of held-out real crops still called
real and of held-out renders called real says which image properties the net reads as "rendered" (a
manipulation that turns real crops "rendered" moves them towards what renders have; one that turns
renders "real", towards what real crops have). (``gazebench realism --sensitivity`` now does this for any two datasets, with a fixed set of manipulations.)
The manipulations: sensor noise added (sigma 2, 4 levels),
a Gaussian blur (sigma 0.6, 1.0 px), an unsharp mask, a JPEG pass (quality 60), MPIIGaze's histogram
equalisation again, a gamma of 0.7 or 1.4, a left-right mirror, shifts by 2 px up or down, the top 9 rows
brightened by 30 levels or darkened, and (renders only) a 3x3 median filter.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from gazebench.imaging import equalize
from gazebench.realism import cnn_input, gaussian_blur, median3, shift_rows, train_cnn
from gazebench_plugins.synth.wild import jpeg

from r15_identity import renders

HERE = Path(__file__).resolve().parent
REAL = Path(os.environ.get("GAZEBENCH_REAL", HERE.parents[1].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(x).clip(0, 255)


def _top(x: np.ndarray, d: float) -> np.ndarray:
    y = x.copy()
    ramp = np.linspace(1, 0, 9)[None, :, None]
    y[:, :9] = y[:, :9] + d * ramp
    return _u8(y)


def manipulations(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "none": lambda x: x,
        "noise sigma 2": lambda x: _u8(x + rng.normal(0, 2, x.shape)),
        "noise sigma 4": lambda x: _u8(x + rng.normal(0, 4, x.shape)),
        "blur sigma 0.6": lambda x: _u8(gaussian_blur(x, 0.6)),
        "blur sigma 1.0": lambda x: _u8(gaussian_blur(x, 1.0)),
        "unsharp (x1, sigma 1)": lambda x: _u8(2 * x - gaussian_blur(x, 1.0)),
        "JPEG quality 60": lambda x: jpeg(torch.from_numpy(x).float().unsqueeze(1),
                                          torch.full((len(x),), 60.0))[:, 0].numpy().astype(np.float64),
        "equalised again": lambda x: equalize(torch.from_numpy(_u8(x)).to(torch.uint8).unsqueeze(1),
                                              "opencv")[:, 0].numpy().astype(np.float64),
        "gamma 0.7": lambda x: _u8(255 * (x / 255) ** 0.7),
        "gamma 1.4": lambda x: _u8(255 * (x / 255) ** 1.4),
        "mirrored": lambda x: x[:, :, ::-1].copy(),
        "2 px up": lambda x: shift_rows(x, -2),
        "2 px down": lambda x: shift_rows(x, 2),
        "top 9 rows +30": lambda x: _top(x, 30.0),
        "top 9 rows -30": lambda x: _top(x, -30.0),
        "median 3x3": median3,
    }


def main() -> None:
    real = np.load(REAL)["images"][:400].astype(np.float64)
    synth = renders(np.arange(400), 0, split="unlabelled")
    x = np.concatenate([real, synth])
    y = np.concatenate([np.zeros(400, np.int64), np.ones(400, np.int64)])   # 1: rendered
    names = list(manipulations(0))
    called_real = {k: [[], []] for k in names}
    torch.set_num_threads(1)
    for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(x, y)):
        net = train_cnn(x[tr], y[tr], k)          # domain_accuracy's seed for fold k at seed 0
        for name, f in manipulations(k).items():
            for cls in (0, 1):
                xs = x[te][y[te] == cls]
                with torch.no_grad():
                    logit = net(cnn_input(f(xs).astype(np.float32)))
                called_real[name][cls].append(float((logit < 0).float().mean()))
    print("real patches 0:400 against 400 version 3 renders (seed 0); each fold's net on its held-out images, "
          "manipulated; share called real, mean over the 5 folds\n")
    print("| manipulation | real crops called real | renders called real |")
    print("| --- | --- | --- |")
    for name in names:
        a, b = (np.mean(called_real[name][c]) for c in (0, 1))
        print(f"| {name} | {a:.3f} | {b:.3f} |")


if __name__ == "__main__":
    main()
