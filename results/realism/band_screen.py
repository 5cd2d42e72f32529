"""Screen candidates on one band of rows with the convnet alone (round 10, issue 18).

    python results/realism/band_screen.py 0:12 0:200 'v2=' 'hollow0=L.update(hollow=0.0)' \\
        'nonoise=|{"effects": "light,glare,tone,blur,jpeg,equalize"}'

Each argument is ``NAME=CODE`` or ``NAME=CODE|PARAMS`` (``CODE`` as in ``tune.py``, ``PARAMS`` the
``synth-wild`` dataset parameters as JSON). For render seeds 0-4, the convnet domain classifier
(``gazebench.realism``, 5-fold) is trained on the given rows of real patches START:STOP (within the
tuning split, 0:400) against as many ``unlabelled`` renders; prints the mean and each draw. About 25 s
a candidate for rows 0:12 at 200 a side. Nothing is logged: a screen, the candidates worth it go to
``tune.py --rows``.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import blocks


def main() -> None:
    from gazebench.realism import domain_accuracy, parse_rows

    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    r0, r1 = parse_rows(sys.argv[1], 36)
    lo, hi = (int(v) for v in sys.argv[2].split(":"))
    if not 0 <= lo < hi <= 400:
        raise SystemExit(f"real {sys.argv[2]}: the tuning patches are 0:400 (400:600 is the held-out split)")
    real = np.load(blocks.REAL)["images"][lo:hi].astype(np.float64)
    for arg in sys.argv[3:]:
        name, _, rest = arg.partition("=")
        code, _, params = rest.partition("|")
        accs = []
        for seed in range(5):
            x = blocks.render(code, n=hi - lo, seed=seed, params=json.loads(params) if params else None)
            accs.append(domain_accuracy(np.ascontiguousarray(real[:, r0:r1]), np.ascontiguousarray(x[:, r0:r1]),
                                        "convnet")["accuracy"])
        print(f"{name:14s} convnet on rows {r0}:{r1}, real {lo}:{hi}: {np.mean(accs):.3f}  per draw {np.round(accs, 3)}",
              flush=True)


if __name__ == "__main__":
    main()
