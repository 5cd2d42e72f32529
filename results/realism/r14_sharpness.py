"""A candidate's per-crop sharpness spread and darkest rows (issue 18, round 14), no classifier (a few seconds).

    python results/realism/r14_sharpness.py 'T.update(noise_contrast=1.0)' ['{"pitch_range_deg": [-15, 5]}']

1000 ``synth-wild`` ``unlabelled`` renders (draw 15) under the candidate's code (as ``tune.py``): the
10th / 50th / 90th percentile of the per-crop mean |Laplacian| and the five target statistics' gaps to
the real tuning patches 0:400 (real: 13.4 / 17.4 / 22.9); and the share of renders whose darkest row of the
centre columns 20-39 lies above row 9, in rows 9-20 and below row 20 (real 0:400: 0.033 / 0.935 / 0.033). The
optional second argument is the dataset's parameters, JSON (as ``tune.py --params``).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from r14_diagnose import darkest_rows
from tune import REAL, apply_code


def main() -> None:
    code = sys.argv[1] if len(sys.argv) > 1 else ""
    apply_code(code)
    from gazebench.plugins import get_plugin_manager
    from gazebench.realism import crop_laplacian, image_statistics, load_set, relative_gaps

    real = np.load(REAL)["images"][:400].astype(np.float64)
    x, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=1000,
                    size=(36, 60), seed=15, params=json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    gaps = relative_gaps(image_statistics(real), image_statistics(x))
    print(repr(code), "per-crop |Laplacian| p10 / p50 / p90", np.percentile(crop_laplacian(x), [10, 50, 90]).round(1),
          {k: round(v, 3) for k, v in gaps.items()})
    dark = darkest_rows(x)
    print(f"darkest centre row above 9 / 9-20 / below 20: {(dark < 9).mean():.3f} / "
          f"{((dark >= 9) & (dark <= 20)).mean():.3f} / {(dark > 20).mean():.3f}")


if __name__ == "__main__":
    main()
