"""Issue 18, round 15: does a procedural person drawn more consistently look more like p00? (tuning patches only)

    python results/realism/r15_person_variants.py > results/realism/r15-person-variants.txt

After ``r15_nearest.py``: the real mean image is sharp (per-pixel spread 47 levels over real 0:400) where a
procedural person's is blurred (55-57). Is the convnet keying on that consistency? The nearest people
(seed 15 subject 8; seed 6 subject 11), 200 ``test`` renders each (indices 100-299 of the person), against
real 0:200 and 200:400 (hist, convnet; ``gazebench.realism.compare``), drawn as version 3 draws them, with
a tight placement (the eye's shift +-0.3 mm across and 0.3 mm about -1 mm up, zoom 0.98-1.02), and (the
first person) lit from one side of the room only, each side in turn, or from near the camera's axis.
"""

from __future__ import annotations

import numpy as np

from gazebench.realism import compare
from gazebench_plugins.synth.versions import tables_restored

from r15_nearest import REAL, person

VARIANTS = (
    ("as drawn", "", ((15, 8), (6, 11))),
    ("tight placement", "G.update(shift_x=(-0.3, 0.3), shift_y=(-1.3, -0.7), scale=(0.98, 1.02))", ((15, 8), (6, 11))),
    ("one room: light from the right (azimuth -45..45)", "W.update(azimuth_deg=(-45.0, 45.0))", ((15, 8),)),
    ("one room: from the left (135..225)", "W.update(azimuth_deg=(135.0, 225.0))", ((15, 8),)),
    ("one room: from above (225..315)", "W.update(azimuth_deg=(225.0, 315.0))", ((15, 8),)),
    ("one room: from below (45..135)", "W.update(azimuth_deg=(45.0, 135.0))", ((15, 8),)),
    ("near the camera's axis (elevation 10-35)", "W.update(elevation_deg=(10.0, 35.0))", ((15, 8),)),
)


def main() -> None:
    real = np.load(REAL)["images"][:400].astype(np.float64)
    print(f"real 0:400 per-pixel spread {real.std(0).mean():.1f} levels\n")
    print("| variant | person (seed, subject) | per-pixel spread | hist vs real 0:200 / 200:400 | convnet |")
    print("| --- | --- | --- | --- | --- |")
    for name, code, people in VARIANTS:
        with tables_restored() as t:
            exec(code, {"G": t["GEOMETRY"], "W": t["WILD"]})
            for seed, subject in people:
                x = person(seed, subject, 200, first=100)
                res = [compare(half, x, classifiers=("hist", "convnet"), seed=0)["classifiers"]
                       for half in (real[:200], real[200:400])]
                print(f"| {name} | ({seed}, {subject}) | {x.std(0).mean():.1f} | {res[0]['hist']['accuracy']:.3f} / "
                      f"{res[1]['hist']['accuracy']:.3f} | {res[0]['convnet']['accuracy']:.3f} / "
                      f"{res[1]['convnet']['accuracy']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
