"""Quick look at candidates without the convnet: hist, intensity and gradient classifiers on the tuning split.

    python results/realism/hist_probe.py 'T.update(noise_dark=0.5)' 'T.update(sharpen=1.0)'

For each code (``G``, ``W``, ``C``, ``B``, ``K``, ``T`` as in ``tune.py``): the three histogram
classifiers' accuracies (real patches 0:400 against 400 ``synth-wild`` ``unlabelled`` renders, seed
0; the held-out patches are never read), the top edge's median, the mean of rows 0-1 and of rows
34-35, and ``blocks.py``'s three distances. Nothing is logged; about 3 s a code. Round 6 used it for
the probes of ``noise_dark`` and ``sharpen`` (docs/renderer.md).
"""

from __future__ import annotations

import sys

import numpy as np

import blocks


def main() -> None:
    from gazebench.realism import domain_accuracy

    real = np.load(blocks.REAL)["images"][:400].astype(np.float64)
    for code in sys.argv[1:]:
        x = blocks.render(code)
        acc = [round(domain_accuracy(real, x, k)["accuracy"], 3) for k in ("hist", "intensity", "gradient")]
        s = blocks.summary("", x)
        print(acc, s["top_edge_quantiles"][2], s["top_rows_mean"], round(float(x[:, -2:].mean())),
              {k: round(v, 1) for k, v in blocks.score(real, x).items()}, code, flush=True)


if __name__ == "__main__":
    main()
