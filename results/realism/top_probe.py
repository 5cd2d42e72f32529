"""What the convnet on the crop's top rows keys on (round 10, issue 18).

    python results/realism/top_probe.py [--rows 0:12]

Trains the convnet domain classifier (``gazebench.realism.train_cnn``, seed 0) on the rows of real
patches 0:200 against 200 version-2 ``unlabelled`` renders (seed 0), then reports the share of
held-back images it calls renders: real 200:400 as they are and transformed (flipped up-down or
left-right, blurred, noisier, brighter, lower contrast, other rows), renders of seed 1 likewise. One
training, seconds; the figures in docs/renderer.md ("Round 10") are this script's.
"""

from __future__ import annotations

import argparse

import numpy as np

import blocks


def main() -> None:
    import torch
    from scipy.ndimage import gaussian_filter

    from gazebench.realism import cnn_input, parse_rows, train_cnn

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default="0:12")
    args = p.parse_args()
    r0, r1 = parse_rows(args.rows, 36)
    real = np.load(blocks.REAL)["images"][:400].astype(np.float64)
    x0, x1 = blocks.render("", n=200, seed=0), blocks.render("", n=200, seed=1)
    net = train_cnn(np.ascontiguousarray(np.concatenate([real[:200, r0:r1], x0[:, r0:r1]])),
                    np.r_[np.zeros(200), np.ones(200)], seed=0)

    def called_render(x: np.ndarray) -> float:
        with torch.no_grad():
            return float((net(cnn_input(np.ascontiguousarray(x))) > 0).float().mean())

    rt, st = real[200:400], x1
    h = r1 - r0
    band = (lambda x: x[:, r0:r1])
    tests = {
        "real, as is": band(rt),
        "real flipped up-down": band(rt)[:, ::-1],
        "real flipped left-right": band(rt)[:, :, ::-1],
        "real blurred 1 px": np.stack([gaussian_filter(i, 1.0) for i in band(rt)]),
        "real + noise sd 4": np.clip(band(rt) + np.random.default_rng(0).normal(0, 4, band(rt).shape), 0, 255),
        "real +30 levels": np.clip(band(rt) + 30, 0, 255),
        "real contrast x0.7": np.clip(128 + 0.7 * (band(rt) - 128), 0, 255),
        "renders, as is": band(st),
        "renders flipped up-down": band(st)[:, ::-1],
        "renders blurred 1 px": np.stack([gaussian_filter(i, 1.0) for i in band(st)]),
    }
    if r0 + 4 + h <= 36:
        tests[f"renders rows {r0 + 4}:{r1 + 4} (the eye 4 px higher)"] = st[:, r0 + 4:r1 + 4]
    for k, v in tests.items():
        print(f"{k:40s} called render: {called_render(v):.2f}")


if __name__ == "__main__":
    main()
