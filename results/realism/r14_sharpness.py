"""The per-crop sharpness spread of a candidate (issue 18, round 14), no classifier (a few seconds).

    python results/realism/r14_sharpness.py 'T.update(noise_contrast=1.0)'

1000 ``synth-wild`` ``unlabelled`` renders (draw 15) under the candidate's code (as ``tune.py``): the
10th / 50th / 90th percentile of the per-crop mean |Laplacian| and the five target statistics' gaps to
the real tuning patches 0:400 (real: 13.4 / 17.4 / 22.9).
"""

from __future__ import annotations

import sys

import numpy as np

from tune import REAL, apply_code


def main() -> None:
    code = sys.argv[1] if len(sys.argv) > 1 else ""
    apply_code(code)
    from gazebench.plugins import get_plugin_manager
    from gazebench.realism import crop_laplacian, image_statistics, load_set, relative_gaps

    real = np.load(REAL)["images"][:400].astype(np.float64)
    x, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=1000,
                    size=(36, 60), seed=15, params={})
    gaps = relative_gaps(image_statistics(real), image_statistics(x))
    print(repr(code), "per-crop |Laplacian| p10 / p50 / p90", np.percentile(crop_laplacian(x), [10, 50, 90]).round(1),
          {k: round(v, 3) for k, v in gaps.items()})


if __name__ == "__main__":
    main()
