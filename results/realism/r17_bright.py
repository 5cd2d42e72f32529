"""Where each crop's brightest pixels lie: real tuning patches 0:400 against 400 ``synth-wild`` renders (draw 15).

    python results/realism/r17_bright.py ['E.update(cap=1.0)' ...] > results/realism/r17-bright.txt

Issue 18, round 17: for each set, the share of the crops' brightest 5% of pixels (per crop, its own 95th
percentile) in five bands of rows and in the centre (rows 12-24 x cols 15-45), the median ratio of the central
rows' maximum (rows 12-24 x cols 10-50) to the crop's, and the median difference of their 99th percentiles
(central minus rows 0-6). Each argument is a candidate's code (as ``tune.py``'s), measured after version 3.
"""

from __future__ import annotations

import sys

import numpy as np
from tune import REAL, apply_code

BANDS = ((0, 6), (6, 12), (12, 24), (24, 30), (30, 36))


def brightest(x: np.ndarray) -> dict[str, object]:
    """The statistics of the docstring for uint8-range crops (N, 36, 60)."""
    top = x >= np.percentile(x.reshape(len(x), -1), 95, axis=1)[:, None, None]
    share = top.mean(0)
    c = x[:, 12:24, 10:50]
    return {"bands": [round(float(share[a:b].sum() / share.sum()), 2) for a, b in BANDS],
            "centre": round(float(share[12:24, 15:45].sum() / share.sum()), 2),
            "central_max_ratio": round(float(np.median(c.max((1, 2)) / x.max((1, 2)))), 3),
            "p99_central_minus_top": round(float(np.median(
                np.percentile(c.reshape(len(x), -1), 99, 1) - np.percentile(x[:, :6].reshape(len(x), -1), 99, 1))), 1)}


def main() -> None:
    from gazebench.plugins import get_plugin_manager
    from gazebench.realism import load_set

    from gazebench_plugins.synth.versions import tables_restored

    real = np.load(REAL)["images"][:400].astype(np.float64)
    print("set | rows 0-6 / 6-12 / 12-24 / 24-30 / 30-36 | centre | central max / crop max | p99 central - top")
    rows = [("real 0:400", real)]
    for code in [""] + sys.argv[1:]:
        with tables_restored():
            apply_code(code)
            x, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=400,
                            size=(36, 60), seed=15, params={})
        rows.append((code or "version 3", x))
    for name, x in rows:
        b = brightest(x)
        print(f"{name} | {' / '.join(f'{v:.2f}' for v in b['bands'])} | {b['centre']:.2f} | "
              f"{b['central_max_ratio']:.3f} | {b['p99_central_minus_top']:+.1f}")


if __name__ == "__main__":
    main()
