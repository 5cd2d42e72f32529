"""Issue 18, round 16: what a saved refiner does to the renders (research; the weights are not committed).

    python results/realism/refiner_probe.py ... --blocks 4 --width 16 --bound 0.5 --save /tmp/q0.pt
    python results/realism/r16_refined_look.py /tmp/q0.pt /tmp/q0.png [--blocks 4 --width 16 --bound 0.5]

Refines 200 version 3 renders of draw 15 (before MPIIGaze's equalisation and JPEG, as the probe's ``--post 1``
does), prints the mean absolute change and the mean signed change per row of the centre columns (20-40), both
before equalisation, and writes a grid: 12 renders as drawn (left), the same refined, equalised and JPEG'd at
quality 75 (right). The refiner's weights derive from the real patches: keep them out of the repository.
With ``--judge A:B`` it also measures the raw and the refined crops against the real patches A:B (the half
the refiner was not fitted on) with ``convnet`` and ``layoutnet``: does a second network family see through
what the refiner learnt against the first?
"""
import argparse
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gazebench.imaging import equalize
from gazebench.plugins import get_plugin_manager
from gazebench.realism import compare, load_set
from gazebench_plugins.synth.wild import jpeg
from refiner_net import Refiner

p = argparse.ArgumentParser()
p.add_argument("weights")
p.add_argument("png")
p.add_argument("--blocks", type=int, default=4)
p.add_argument("--width", type=int, default=16)
p.add_argument("--bound", type=float, default=0.5)
p.add_argument("--judge", default="", help="real patches START:STOP to measure raw and refined crops against")
a = p.parse_args()


R = Refiner(a.width, a.blocks, bound=a.bound)
R.load_state_dict(torch.load(a.weights))
R.eval()
pm = get_plugin_manager()
x, _ = load_set(pm, "synth-wild", root=None, split="unlabelled", slice_=None, n=200, size=(36, 60), seed=15, params={})
x0, _ = load_set(pm, "synth-wild", root=None, split="unlabelled", slice_=None, n=200, size=(36, 60), seed=15,
                 params={"effects": "light,glare,tone,noise,blur"})
with torch.no_grad():
    t = torch.from_numpy(x0.astype(np.float32)).unsqueeze(1) / 127.5 - 1
    pre = (R(t) + 1) * 127.5
    y = jpeg(equalize(pre.round().clamp(0, 255), "opencv"), torch.full((len(t),), 75.0))[:, 0].numpy()
d = (pre - (t + 1) * 127.5)[:, 0].numpy()
print(f"mean |change| {np.abs(d).mean():.1f} levels; mean signed change per row, centre columns:",
      " ".join(f"{v:.0f}" for v in d[:, :, 20:40].mean((0, 2))))


def tile(imgs, cols=6):
    h, w = imgs.shape[1:]
    rows = len(imgs) // cols
    out = np.full((rows * (h + 1), cols * (w + 1)), 255, np.uint8)
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = np.clip(imgs[k], 0, 255)
    return out


left, right = tile(x[:12]), tile(y[:12])
g = np.concatenate([left, np.zeros((left.shape[0], 4), np.uint8), right], 1)
Image.fromarray(g).resize((g.shape[1] * 3, g.shape[0] * 3), Image.NEAREST).save(a.png)

if a.judge:
    REAL = Path(os.environ.get("GAZEBENCH_REAL", Path(__file__).resolve().parents[2].parent
                               / "shared/data/mpiigaze-unlabelled/eyes.npz"))
    lo, hi = map(int, a.judge.split(":"))
    real = np.load(REAL)["images"][lo:hi].astype(np.float64)
    for tag, imgs in (("raw", x), ("refined", y)):
        c = compare(real, np.asarray(imgs, np.float64), classifiers=("hist", "convnet", "layoutnet"), seed=0)
        print(tag, {k: round(v["accuracy"], 3) for k, v in c["classifiers"].items()}, flush=True)
