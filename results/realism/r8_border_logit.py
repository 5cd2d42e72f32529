"""Round 8, last: what a render's out-of-fold convnet logit follows (its frame's brightness, within each light direction).

    python results/realism/realest.py --logits L.npy --json /tmp/x.json   # version 2, N 2000
    python results/realism/r8_border_logit.py L.npy
"""
import numpy as np, sys
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent))
import realest
from scipy.stats import spearmanr
from gazebench.plugins import get_plugin_manager
from gazebench.realism import load_set
logit = np.load(sys.argv[1]); n = len(logit)
fin, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=n, size=(36,60), seed=0, params={})
tab = realest.latent_table(n, 0)
border = np.concatenate([fin[:, 0], fin[:, -1], fin[:, :, 0], fin[:, :, -1]], 1).mean(1)
top = fin[:, 0].mean(1); bottom = fin[:, -1].mean(1); left = fin[:, :, 0].mean(1); right = fin[:, :, -1].mean(1)
print('all: border', round(spearmanr(border, logit)[0], 2), 'top', round(spearmanr(top, logit)[0], 2), 'bottom', round(spearmanr(bottom, logit)[0], 2),
      'left', round(spearmanr(left, logit)[0], 2), 'right', round(spearmanr(right, logit)[0], 2))
for name, sel in (('light from below (sin > 0.5)', tab['light_from_below'] > 0.5), ('from the sides (|sin| < 0.5)', np.abs(tab['light_from_below']) < 0.5),
                  ('from above (sin < -0.5)', tab['light_from_below'] < -0.5)):
    print(f"{name}: n {sel.sum()}, median logit {np.median(logit[sel]):.2f}, border median {np.median(border[sel]):.0f}, spearman(border, logit) {spearmanr(border[sel], logit[sel])[0]:+.2f}")
for k in ('light_from_below', 'light_from_right', 'orbit_u', 'brow_y', 'ambient_u', 'elevation_u'):
    print(k, 'spearman with border', round(spearmanr(tab[k], border)[0], 2), 'with logit', round(spearmanr(tab[k], logit)[0], 2))
