"""Where a candidate's coarse layout differs from the real crops: 6x6 block means, side by side.

    python results/realism/layout.py NAME 'CODE' [--render-seed S] [--show]

Round 9 (issue 18). A linear model on the 6x10 grid of 6x6 block means tells version 2 from the real
tuning patches at 0.98 (as round 2's convnet on block means, 0.905): the layout alone gives the renders
away. This prints, for real patches 0:400 against 400 ``unlabelled`` renders of the candidate
(``CODE`` as in tune.py), the block-mean linear classifier's 5-fold accuracy, the hist classifier's
(gazebench.realism), and with ``--show`` the blocks' means and their standardised difference
(render - real, in pooled standard deviations). Seconds, not minutes: a probe to choose what the
convnet (tune.py, five draws) is then run on. Nothing is logged.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from blocks import blocks
from tune import REAL, apply_code


def block_accuracy(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """5-fold accuracy of a standardised logistic regression on the block means (balanced sets)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([blocks(a), blocks(b)]).reshape(len(a) + len(b), -1)
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    return float(cross_val_score(clf, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed)).mean())


def main() -> None:
    from gazebench.plugins import get_plugin_manager
    from gazebench.realism import compare, load_set

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name")
    p.add_argument("code")
    p.add_argument("--render-seed", type=int, default=0)
    p.add_argument("--show", action="store_true", help="print the block means and standardised differences")
    p.add_argument("--params", default="{}")
    args = p.parse_args()
    apply_code(args.code)
    real = np.load(REAL)["images"][:400].astype(np.float64)
    synth, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=400,
                        size=(36, 60), seed=args.render_seed, params=json.loads(args.params))
    hist = compare(real, synth, classifiers=("hist",), seed=0)["classifiers"]["hist"]["accuracy"]
    print(f"{args.name}: blocks {block_accuracy(real, synth):.3f}, hist {hist:.3f}")
    if args.show:
        br, bs = blocks(real), blocks(synth)
        d = (bs.mean(0) - br.mean(0)) / np.sqrt((br.var(0) + bs.var(0)) / 2)
        with np.printoptions(precision=0, suppress=True, linewidth=160):
            print("block means, real | render")
            for r_row, s_row in zip(br.mean(0), bs.mean(0)):
                print(np.array2string(r_row), "|", np.array2string(s_row))
        with np.printoptions(precision=1, suppress=True, linewidth=160):
            print("standardised difference (render - real)\n", d)


if __name__ == "__main__":
    main()
