"""Issue 18, round 14: what sets a version 3 crop's sharpness and its darkest row (tuning patches only).

    python results/realism/r14_diagnose.py > results/realism/r14-diagnose.txt

2000 ``synth-wild`` ``unlabelled`` renders (seed 15, gray) with their wild draws and latents, and the
real patches 0:400 (the held-out 400:600 are never read):
- the per-crop mean |Laplacian| (``gazebench.realism.crop_laplacian``) percentiles, real and rendered,
  and its Spearman correlation with the camera's draws (blur, read/shot noise, grain, JPEG quality) and
  with the recorded image before MPIIGaze's equalisation and JPEG (its level spread, mean and range);
- the darkest row of the centre columns 20-39 (as ``hist_features.py``) and what moves it: gaze pitch,
  the eye's shift, head pitch, zoom and the pupil's row; and the light's direction (sectors of 90 degrees
  around the image's right, below, left and above) of the renders darkest near the top, in the middle and
  near the bottom;
- which way ``shift_y`` moves the eye: the mean pupil row of 200 clean renders at -2, 0 and +1 mm.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from gazebench.realism import crop_laplacian
from gazebench_plugins.synth.latents import LatentConfig, sample_latents
from gazebench_plugins.synth.render import render
from gazebench_plugins.synth.wild import degrade, light_azimuth, wild_light, wild_uniforms

HERE = Path(__file__).resolve().parent
REAL = Path(os.environ.get("GAZEBENCH_REAL", HERE.parents[1].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))


def darkest_rows(x: np.ndarray) -> np.ndarray:
    """Each gray crop's darkest row of the centre columns 20-39 (as ``hist_features.py``'s profile), (N,)."""
    return x[:, :, 20:40].mean(2).argmin(1)


def rho(a, b) -> float:
    return round(float(spearmanr(np.asarray(a), np.asarray(b))[0]), 3)


def main() -> None:
    real = np.load(REAL)["images"][:400].astype(np.float64)
    lat = sample_latents(torch.arange(2000), seed=15, split="unlabelled", config=LatentConfig())
    u = wild_uniforms(lat)
    r = render(lat, (36, 60), wild_light(lat, u, 1.0))
    x = degrade(r.image, lat, u, r.ppm, channels=1)[:, 0].numpy().astype(np.float64)
    pre = degrade(r.image, lat, u, r.ppm, channels=1,
                  effects=("light", "glare", "tone", "noise", "blur"))[:, 0].numpy().astype(np.float64)
    q = [5, 10, 25, 50, 90]
    lr, ls = crop_laplacian(real), crop_laplacian(x)
    print(f"per-crop mean |Laplacian| percentiles {q}: real 0:400 {np.percentile(lr, q).round(1)}, "
          f"version 3 {np.percentile(ls, q).round(1)}")
    print("Spearman with the per-crop Laplacian:",
          {nm: rho(u[:, k], ls) for nm, k in (("blur", 23), ("read noise", 24), ("shot noise", 25), ("grain", 29),
                                              ("jpeg quality", 26))},
          {"recorded spread (std)": rho(pre.std((1, 2)), ls), "recorded mean": rho(pre.mean((1, 2)), ls),
           "recorded range": rho(pre.max((1, 2)) - pre.min((1, 2)), ls)})
    smooth = ls < np.percentile(ls, 10)
    print(f"the smoothest 10%: recorded spread {pre[smooth].std((1, 2)).mean():.1f} levels (all {pre.std((1, 2)).mean():.1f}), "
          f"recorded mean {pre[smooth].mean():.1f} (all {pre.mean():.1f}); mean blur draw {u[smooth, 23].mean():.2f}, "
          f"read noise {u[smooth, 24].mean():.2f}, grain {u[smooth, 29].mean():.2f} (uniforms, 0.5 on average)")
    dark_real = darkest_rows(real)
    dark = darkest_rows(x)
    pupil_y = r.pupil[:, 1].numpy()
    print(f"darkest row of the centre columns, percentiles (10, 50, 90): real {np.percentile(dark_real, [10, 50, 90])}, "
          f"version 3 {np.percentile(dark, [10, 50, 90])}; version 3's pupil row {np.percentile(pupil_y, [10, 50, 90]).round(1)}")
    print(f"share of crops with the darkest row above row 9: real {(dark_real < 9).mean():.3f}, version 3 {(dark < 9).mean():.3f}; "
          f"below row 20: real {(dark_real > 20).mean():.3f}, version 3 {(dark > 20).mean():.3f}")
    print("Spearman with version 3's darkest row:",
          {"gaze pitch": rho(lat.pitch, dark), "shift_y": rho(lat.shift[:, 1], dark), "head pitch": rho(lat.head_pitch, dark),
           "zoom": rho(lat.scale, dark), "pupil row": rho(pupil_y, dark)})
    az = np.rad2deg(light_azimuth(u).numpy()) % 360
    sector = np.digitize((az + 45) % 360, [90, 180, 270])     # 0 right, 1 below, 2 left, 3 above
    for name, m in (("darkest above row 9", dark < 9), ("rows 9-20", (dark >= 9) & (dark <= 20)),
                    ("below row 20", dark > 20)):
        counts = np.bincount(sector[m], minlength=4)
        print(f"{name}: {int(m.sum())} renders, lit from the right / below / left / above: {counts.tolist()}; "
              f"mean gaze pitch {np.rad2deg(lat.pitch.numpy()[m]).mean():+.1f} deg")


def shift_direction() -> None:
    from gazebench_plugins.synth import latents

    before = latents.GEOMETRY["shift_y"]
    rows = {}
    try:
        for v in (-2.0, 0.0, 1.0):
            latents.GEOMETRY["shift_y"] = (v, v)
            lat = sample_latents(torch.arange(200), seed=15, split="unlabelled", config=LatentConfig())
            rows[v] = round(float(render(lat, (36, 60)).pupil[:, 1].mean()), 1)
    finally:
        latents.GEOMETRY["shift_y"] = before
    print(f"mean pupil row by shift_y (mm): {rows} (negative is higher in the crop)")


if __name__ == "__main__":
    main()
    shift_direction()
