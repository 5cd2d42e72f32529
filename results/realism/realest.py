"""Round 7: which renders does the domain convnet take for real, and how real are the most real-looking ones?

    python results/realism/realest.py --n 2000 --keep 400 [--by convnet|hist|convnet,hist] [--code CODE] [--bands] [--json OUT]

Renders ``--n`` ``synth-wild`` ``unlabelled`` eyes (render seed 0; the renderer's constants changed by
``--code`` as in ``tune.py``) and scores each out of fold: the renders are cut into five parts, and
for each part a domain classifier learns real patches 0:400 against 400 renders of the other parts,
then gives the part's renders their logits (negative: taken for real). ``convnet`` is
``gazebench.realism.train_cnn`` (the ``convnet`` classifier's exact training), ``hist`` the
histogram classifier, ``convnet,hist`` the two logits summed. Then, each measured the standard way
(5-fold ``hist`` and ``convnet``, seed 0):

- ``kept``: the ``--keep`` renders with the lowest logits, against real 0:400 (the patches the
  selection learnt from) and against the held-out 400:600 (200 each, as the held-out check);
- ``weighted``: ``--keep`` renders drawn without replacement with probability ~ exp(-logit), the
  density ratio P(real | x) / P(render | x) if the logits were calibrated (they are not: a few
  extreme logits dominate, and the printed effective sample size says so), against 400:600;
- ``all``: as many renders drawn uniformly, against 400:600 (the reference at that size);
- with ``--bands``, the kept renders and uniformly drawn ones against real 0:400 with both sets
  low-passed (Gaussian sigma 2 px: the eye's shape and shading) and high-passed (minus a sigma 1.5
  px blur: the fine texture).

So it estimates how far choosing which renders to show (any narrowing or reweighting of the
latent distributions within the renderer's support) could take the classifiers, and prints which
latents and wild draws the chosen renders differ in (medians, the standardised shift of the mean)
and each procedural subject's median logit. About 1 min 10 s for 2000 renders on one core, 2-3 min
for 20 000 (``--n`` beyond the split's 5000 renders more of it; the first 5000 are the same bytes).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REAL = Path(os.environ.get("GAZEBENCH_REAL", HERE.parents[1].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))


def latent_table(n: int, seed: int) -> dict[str, np.ndarray]:
    """Per-render latents and wild draws that the selection could act on."""
    import torch

    from gazebench_plugins.synth import rng
    from gazebench_plugins.synth.latents import LatentConfig, sample_latents
    from gazebench_plugins.synth.wild import light_azimuth, wild_uniforms

    lat = sample_latents(torch.arange(n), seed=seed, split="unlabelled", config=LatentConfig())
    u = wild_uniforms(lat).numpy()
    z = rng.normal_from_uniform(torch.from_numpy(u[:, 9:14])).numpy().clip(-2.5, 2.5)
    az = light_azimuth(torch.from_numpy(u)).numpy()
    # the light's y points down (azimuth 90 lights the eye from below: tests/test_synth_effects.py);
    # records written before round 8's correction call sin(azimuth) "light_from_above"
    cols = {"light_from_right": np.cos(az), "light_from_below": np.sin(az), "elevation_u": u[:, 1],
            "ambient_u": u[:, 2], "diffuse_u": u[:, 3], "iris_gain_u": u[:, 27], "sclera_gain_u": u[:, 28],
            "orbit_u": u[:, 30], "glint_u": u[:, 8],
            # the camera's draws (wild.degrade): exposure and gamma are normal draws, the rest uniforms
            "exposure_z": z[:, 0], "gamma_z": z[:, 4], "contrast_u": u[:, 22], "blur_u": u[:, 23],
            "read_noise_u": u[:, 24], "shot_noise_u": u[:, 25], "jpeg_u": u[:, 26], "grain_u": u[:, 29],
            "glare": (u[:, 14] < 0.05).astype(float), "frame": (u[:, 19] < 0.03).astype(float),
            "shadow": (u[:, 4] < 0.02).astype(float)}
    for name in ("pitch", "yaw", "head_pitch", "head_yaw", "scale", "mirror", "openness", "cover", "brow_y",
                 "iris_r", "lower_apex", "crease_gap", "crease_dark", "lash", "half_width", "corner_y", "tilt"):
        cols[name] = getattr(lat, name).double().numpy()
    cols["shift_x"], cols["shift_y"] = lat.shift[:, 0].numpy(), lat.shift[:, 1].numpy()
    cols["subject"] = lat.subject.numpy().astype(float)
    return cols


def main() -> None:
    import torch

    from gazebench.plugins import get_plugin_manager
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from gazebench.realism import _FEATURES, _one_thread, band_filter, cnn_input, domain_accuracy, load_set, train_cnn
    from tune import apply_code

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--keep", type=int, default=400)
    p.add_argument("--code", default="")
    p.add_argument("--json", default=None)
    p.add_argument("--by", default="convnet",
                   help="the classifier(s) that score the renders out of fold: convnet, hist (logistic regression on both "
                        "histograms) or convnet,hist (the logits summed: both density ratios at once, as if independent)")
    p.add_argument("--logits", default=None, help="write every render's out-of-fold logit here (.npy)")
    p.add_argument("--bands", action="store_true",
                   help="also measure the kept renders against real 0:400 with both sets low-passed (Gaussian sigma 2 px) "
                        "and high-passed (minus a sigma 1.5 px blur): the eye's shape and shading, and the fine texture")
    args = p.parse_args()
    by = args.by.split(",")
    if not by or set(by) - {"convnet", "hist"}:
        raise SystemExit(f"--by {args.by}: choose convnet, hist or convnet,hist")
    apply_code(args.code)
    real_all = np.load(REAL)["images"].astype(np.float64)
    real, held = real_all[:400], real_all[400:600]
    synth, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=args.n,
                        size=(36, 60), seed=0, params={"n_unlabelled": max(5000, args.n)})
    parts = np.array_split(np.arange(args.n), 5)
    logit = np.zeros(args.n)
    rng = np.random.default_rng(0)
    with _one_thread():
        for k, part in enumerate(parts):
            rest = np.setdiff1d(np.arange(args.n), part)
            pick = rng.choice(rest, len(real), replace=False)
            x = np.concatenate([real, synth[pick]])
            y = np.concatenate([np.zeros(len(real), np.int64), np.ones(len(real), np.int64)])
            if "convnet" in by:
                net = train_cnn(x, y, seed=100 + k)
                with torch.no_grad():
                    logit[part] += net(cnn_input(synth[part])).double().numpy()
            if "hist" in by:
                model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
                model.fit(_FEATURES["hist"](x), y)
                logit[part] += model.decision_function(_FEATURES["hist"](synth[part]))
    if args.logits:
        np.save(args.logits, logit)
    order = np.argsort(logit)
    kept = order[:args.keep]
    # the density-ratio view: for a calibrated classifier, P(real | x) / P(render | x) = exp(-logit)
    # is how much more often real images look like x, and resampling the renders by it is the
    # closest a reweighting of them could get; these logits are not calibrated (a few extreme ones
    # dominate: see the effective sample size), so it is a rough estimate, not a bound
    w = np.exp(-(logit - logit.min()))
    ess = float(w.sum() ** 2 / (w * w).sum())
    weighted = rng.choice(args.n, args.keep, replace=False, p=w / w.sum())
    out: dict = {"code": args.code, "n": args.n, "keep": args.keep, "by": args.by,
                 "taken_for_real": float((logit < 0).mean()), "effective_sample_size": round(ess, 1),
                 "logit_quantiles": np.percentile(logit, [5, 25, 50, 75, 95]).round(2).tolist()}
    for name, (a, b) in {"kept_vs_real_0_400": (real, synth[kept]),
                         "weighted_vs_real_400_600": (held, synth[weighted[:len(held)]]),
                         "kept_vs_real_400_600": (held, synth[kept[:len(held)]]),
                         "all_vs_real_400_600": (held, synth[rng.choice(args.n, len(held), replace=False)])}.items():
        out[name] = {c: round(domain_accuracy(a, b, c, seed=0)["accuracy"], 3) for c in ("hist", "convnet")}
        print(name, out[name], flush=True)
    if args.bands:
        # gazebench realism --bands' filters (low: sigma 2 px; high: minus a sigma 1.5 px blur)
        for band in ("low", "high"):
            f = (lambda x, band=band: band_filter(x, band))
            for which, sel in (("kept", kept), ("all", rng.choice(args.n, len(real), replace=False))):
                acc = round(domain_accuracy(f(real), f(synth[sel]), "convnet", seed=0)["accuracy"], 3)
                out[f"{which}_vs_real_0_400_{band}pass_convnet"] = acc
                print(f"{which} vs real 0:400, both {band}-passed: convnet {acc}", flush=True)
    tab = latent_table(args.n, 0)
    shifts = {}
    for name, v in tab.items():
        sd = v.std() or 1.0
        shifts[name] = {"all_median": round(float(np.median(v)), 3), "kept_median": round(float(np.median(v[kept])), 3),
                        "kept_q10_q90": np.percentile(v[kept], [10, 90]).round(3).tolist(),
                        "all_q10_q90": np.percentile(v, [10, 90]).round(3).tolist(),
                        "shift_sd": round(float((v[kept].mean() - v.mean()) / sd), 2),
                        "weighted_q10_q90": np.percentile(v[weighted], [10, 90]).round(3).tolist(),
                        "weighted_shift_sd": round(float((v[weighted].mean() - v.mean()) / sd), 2)}
    out["latents"] = shifts
    subj = tab["subject"].astype(int)
    out["per_subject"] = {int(k): {"median_logit": round(float(np.median(logit[subj == k])), 2),
                                   "taken_for_real": round(float((logit[subj == k] < 0).mean()), 3),
                                   "in_kept": round(float(np.isin(np.where(subj == k)[0], kept).mean()), 3)}
                          for k in np.unique(subj)}
    print("per subject (median logit, share in the kept renders):",
          " ".join(f"{k}:{v['median_logit']:.1f}/{v['in_kept']:.2f}" for k, v in out["per_subject"].items()))
    print(f"effective sample size of the density-ratio weights: {ess:.1f} of {args.n}")
    print(f"taken for real: {out['taken_for_real']:.3f}; logit quantiles 5/25/50/75/95: {out['logit_quantiles']}")
    for name, s in sorted(shifts.items(), key=lambda kv: -abs(kv[1]["shift_sd"])):
        print(f"{name:18s} shift {s['shift_sd']:+.2f} sd   kept q10/q90 {s['kept_q10_q90']}   all {s['all_q10_q90']}")
    print("the density-ratio resample's latents (largest shifts of the mean):")
    for name, s in sorted(shifts.items(), key=lambda kv: -abs(kv[1]["weighted_shift_sd"]))[:12]:
        print(f"{name:18s} shift {s['weighted_shift_sd']:+.2f} sd   q10/q90 {s['weighted_q10_q90']}   all {s['all_q10_q90']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
