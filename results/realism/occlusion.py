"""Where the realism convnet looks: occlusion and saliency maps of real vs ``synth-wild``, per region.

    python results/realism/occlusion.py                       # v2 defaults, figure + table
    python results/realism/occlusion.py --code "W.update(...)" --no-figure   # a candidate (tune.py's code)

Tuning split only (real patches 0:400 against 400 ``synth-wild`` ``unlabelled`` renders, seed 0;
the held-out patches 400:600 are never read). The convnet of ``gazebench realism`` is trained
exactly as ``domain_accuracy`` trains it (same balancing, 5 stratified folds with seed 0, fold seed
k, 20 epochs, one thread; the fold accuracies are printed and equal tune.py's), and every image
gets the maps of the fold that held it out:

- occlusion: a 6x6 square at the training mean slides with stride 3; a pixel's value is the mean
  drop of the image's own-class logit over the squares covering it (:func:`occlusion_map`);
- saliency: |d own-class logit / d input| (:func:`input_saliency`), the cross-check;
- transplants: a band of each held-out render replaced by the same band of a held-out real patch
  of the same fold (and the reverse), classified by that fold's net (:data:`SWAPS`).

Regions: for ``synth-wild`` the renderer's masks; for the real patches the ``unet`` segmenter
(default parameters, fitted on 2000 ``synth`` train renders, seed 0; cached under --cache), and
for both fixed bands. A region's share is the part of an image's positive sensitivity that falls
in it, averaged over the domain's images, beside the region's share of the area. Prints tables
(and the top-edge and light breakdowns; docs/renderer.md, "What the domain CNN looks at"); about
90 s with the segmenter cached, 170 s without (2-core machine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from blocks import constants
from tune import REAL

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: region label -> name (masks: 0 skin, 1 sclera, 2 iris, 3 pupil; skin split below)
REGIONS = ("iris+pupil", "sclera", "upper lid margin", "lower lid margin", "skin above", "skin below")
BANDS = {"top rows 0-8": (slice(0, 9), slice(0, 60)), "bottom rows 27-35": (slice(27, 36), slice(0, 60)),
         "middle, left cols 0-14": (slice(9, 27), slice(0, 15)),
         "middle, centre cols 15-44": (slice(9, 27), slice(15, 45)),
         "middle, right cols 45-59": (slice(9, 27), slice(45, 60))}


#: bands swapped between paired held-out images (the whole image: how often the net is right)
SWAPS = {"none (held-out error)": (slice(0, 0), slice(0, 60)), "whole image": (slice(0, 36), slice(0, 60)),
         "rows 0-11": (slice(0, 12), slice(0, 60)), "rows 12-23": (slice(12, 24), slice(0, 60)),
         "rows 24-35": (slice(24, 36), slice(0, 60)), "rows 0-5": (slice(0, 6), slice(0, 60)),
         "rows 0-17": (slice(0, 18), slice(0, 60)), "rows 18-35": (slice(18, 36), slice(0, 60)),
         "cols 0-19": (slice(0, 36), slice(0, 20)), "cols 20-39": (slice(0, 36), slice(20, 40)),
         "cols 40-59": (slice(0, 36), slice(40, 60)), "centre rows 9-26, cols 15-44": (slice(9, 27), slice(15, 45))}


def region_labels(masks: np.ndarray, ring: int = 3) -> np.ndarray:
    """(N, H, W) label maps 0-3 -> region indices into :data:`REGIONS`.

    Lid margins: skin within ``ring`` px (chessboard) of the eye opening, above / below the
    opening's mean row; the rest of the skin likewise split into above and below. An image with
    no opening (a closed or missed eye) is all skin, split at the middle row.
    """
    from scipy.ndimage import binary_dilation

    n, h, w = masks.shape
    out = np.zeros(masks.shape, np.int64)
    rows = np.arange(h)[:, None].repeat(w, 1)
    for i, m in enumerate(masks):
        opening = m > 0
        centre = rows[opening].mean() if opening.any() else h / 2
        near = binary_dilation(opening, np.ones((2 * ring + 1, 2 * ring + 1), bool)) & ~opening
        above = rows < centre
        r = np.where(above, 4, 5)
        r[near & above], r[near & ~above] = 2, 3
        r[m == 1] = 1
        r[m >= 2] = 0
        out[i] = r
    return out


def shares(maps: np.ndarray, regions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean share of each image's positive map in each of ``k`` regions, and the regions' area share."""
    pos = np.clip(maps, 0, None)
    tot = pos.sum((1, 2)).clip(1e-12)
    s = np.stack([(pos * (regions == j)).sum((1, 2)) / tot for j in range(k)], 1)
    area = np.stack([(regions == j).mean((1, 2)) for j in range(k)], 1)
    return s.mean(0), area.mean(0)


def band_regions(n: int) -> np.ndarray:
    out = np.zeros((n, 36, 60), np.int64)
    for j, (r, c) in enumerate(BANDS.values()):
        out[:, r, c] = j
    return out


def real_masks(real: np.ndarray, cache: Path) -> np.ndarray:
    """The ``unet`` segmenter's labels of the real patches (fitted once on ``synth`` renders, cached)."""
    import torch

    from gazebench.plugins import get_plugin_manager
    from gazebench.stages import build

    pm = get_plugin_manager()
    seg = build(pm, "segmenter", "unet", {"progress": False}, "cpu")
    if cache.exists():
        seg.load(cache)
    else:
        data = build(pm, "dataset", "synth", {}, "cpu").load("train", root=None, size=(36, 60), limit=2000, seed=0)
        seg.fit(data.batch(list(range(len(data)))))
        cache.parent.mkdir(parents=True, exist_ok=True)
        seg.save(cache)
    img = torch.from_numpy(np.round(real).clip(0, 255).astype(np.uint8)).unsqueeze(1)
    return seg.segment(img).numpy()


def main() -> None:
    import torch
    from sklearn.model_selection import StratifiedKFold

    from gazebench.plugins import get_plugin_manager
    from gazebench.realism import balance, gray_images, input_saliency, occlusion_map, train_cnn
    from gazebench.stages import build
    from gazebench_plugins.synth import latents

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--code", default="", help="tune.py's candidate code (G, W, C, B); empty: version 2")
    p.add_argument("--name", default="v2")
    p.add_argument("--figure", default=str(ROOT / "docs/realism-occlusion.png"))
    p.add_argument("--no-figure", action="store_true")
    p.add_argument("--json", default=None, help="write the tables and mean maps' summary here")
    p.add_argument("--cache", default="/tmp/gazebench-occlusion/unet-synth2000.pt")
    args = p.parse_args()
    t0 = time.time()
    exec(args.code, dict(constants()))
    real = np.load(REAL)["images"][:400].astype(np.float64)
    data = build(get_plugin_manager(), "dataset", "synth-wild", {}, "cpu").load(
        "unlabelled", root=None, size=(36, 60), limit=400, seed=0)
    batch = data.batch(list(range(400)))
    synth, smask = gray_images(batch.images, (36, 60)), batch.masks.numpy()
    rmask = real_masks(real, Path(args.cache))
    t_load = time.time() - t0

    # exactly domain_accuracy's split (sets are 400 each: balance keeps them whole)
    a, b = balance(real, synth, 0)
    assert len(a) == len(b) == 400
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(400, np.int64), np.ones(400, np.int64)])
    occ, sal, logit = np.zeros(x.shape), np.zeros(x.shape), np.zeros(len(x))
    accs, swaps = [], {}
    torch.set_num_threads(1)
    for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y)):
        net = train_cnn(x[tr], y[tr], seed=k, epochs=20)
        fill = float(x[tr].mean())
        occ[te] = occlusion_map(net, x[te], y[te], patch=6, stride=3, fill=fill)
        sal[te] = input_saliency(net, x[te], y[te])
        with torch.no_grad():
            logit[te] = net(torch.from_numpy(x[te]).float().unsqueeze(1) / 127.5 - 1).numpy()
        accs.append(float(((logit[te] > 0) == y[te]).mean()))
        # transplant: paste one domain's band into the other's held-out images (pairs within the fold)
        ri, si = te[y[te] == 0], te[y[te] == 1]
        m = min(len(ri), len(si))
        for band, (r_, c_) in SWAPS.items():
            to_real, to_wild = x[si[:m]].copy(), x[ri[:m]].copy()
            to_real[:, r_, c_] = x[ri[:m]][:, r_, c_]   # wild images with real pixels in the band
            to_wild[:, r_, c_] = x[si[:m]][:, r_, c_]   # real images with wild pixels in the band
            with torch.no_grad():
                lr = net(torch.from_numpy(to_real).float().unsqueeze(1) / 127.5 - 1).numpy()
                lw = net(torch.from_numpy(to_wild).float().unsqueeze(1) / 127.5 - 1).numpy()
            swaps.setdefault(band, []).append(((lr <= 0).mean(), (lw > 0).mean()))
    t_all = time.time() - t0
    print(f"[{args.name}] convnet folds {np.round(accs, 4).tolist()}: {np.mean(accs):.3f} +- {np.std(accs):.3f}"
          f"  (load+segment {t_load:.0f} s, total {t_all:.0f} s)")

    lines = ["| real pixels pasted into wild images / wild into real, band | wild called real | real called wild |",
             "| --- | --- | --- |"]
    for band, v in swaps.items():
        v = np.array(v)
        lines.append(f"| {band} | {v[:, 0].mean():.2f} | {v[:, 1].mean():.2f} |")
    print("\n".join(lines) + "\n")
    rr, rs = region_labels(rmask), region_labels(smask)
    su = region_labels(real_masks(synth, Path(args.cache)))  # unet on synth-wild: the segmenter's bias
    dom = {"real": (slice(0, 400), rr), "synth-wild": (slice(400, 800), rs)}
    table = {}
    lines = ["| region | area real / wild | occlusion drop per pixel real / wild | occlusion share real / wild "
             "| saliency share real / wild |", "| --- | --- | --- | --- | --- |"]
    res = {d: (shares(occ[s], r, 6), shares(sal[s], r, 6)) for d, (s, r) in dom.items()}
    for j, name in enumerate(REGIONS):
        (o_r, a_r), (g_r, _) = res["real"]
        (o_s, a_s), (g_s, _) = res["synth-wild"]
        d_r, d_s = (float(occ[s][r == j].mean()) for s, r in dom.values())
        table[name] = {"area": [a_r[j], a_s[j]], "drop": [d_r, d_s], "occlusion": [o_r[j], o_s[j]],
                       "saliency": [g_r[j], g_s[j]]}
        lines.append(f"| {name} | {a_r[j]:.2f} / {a_s[j]:.2f} | {d_r:+.3f} / {d_s:+.3f} | {o_r[j]:.2f} / {o_s[j]:.2f} "
                     f"| {g_r[j]:.2f} / {g_s[j]:.2f} |")
    lines += ["", "| band | occlusion drop per pixel real / wild | occlusion share real / wild | saliency share real / wild |",
              "| --- | --- | --- | --- |"]
    bands = band_regions(400)
    bo = {d: shares(occ[s], bands, len(BANDS))[0] for d, (s, _) in dom.items()}
    bg = {d: shares(sal[s], bands, len(BANDS))[0] for d, (s, _) in dom.items()}
    area_b = shares(np.ones((1, 36, 60)), bands[:1], len(BANDS))[1]
    for j, name in enumerate(BANDS):
        table[name] = {"area": [float(area_b[j])] * 2, "occlusion": [bo["real"][j], bo["synth-wild"][j]],
                       "saliency": [bg["real"][j], bg["synth-wild"][j]]}
        r_, c_ = BANDS[name]
        lines.append(f"| {name} (area {area_b[j]:.2f}) | {occ[:400, r_, c_].mean():+.3f} / {occ[400:, r_, c_].mean():+.3f} | "
                     f"{bo['real'][j]:.2f} / {bo['synth-wild'][j]:.2f} | "
                     f"{bg['real'][j]:.2f} / {bg['synth-wild'][j]:.2f} |")
    # what the regions hold: mean intensity and area (real by unet; wild by true masks and by unet)
    lines += ["", "| region | real (unet): area, mean | wild (masks): area, mean | wild (unet): area, mean |",
              "| --- | --- | --- | --- |"]
    content = {}
    for j, name in enumerate(REGIONS):
        cells = []
        for img, reg in ((real, rr), (synth, rs), (synth, su)):
            m = reg == j
            cells.append((float(m.mean()), float(img[m].mean()) if m.any() else float("nan")))
        content[name] = cells
        lines.append(f"| {name} | " + " | ".join(f"{ar:.3f}, {mu:.0f}" for ar, mu in cells) + " |")
    # mean occlusion drop per domain, and how much of it is negative (hiding helps the classifier)
    for d, (s, _) in dom.items():
        lines.append(f"\n{d}: mean own-class logit {np.mean(np.where(y[s] == 1, logit[s], -logit[s])):.2f}, "
                     f"mean occlusion drop {occ[s].mean():.3f}, peak of the mean map {occ[s].mean(0).max():.3f} at "
                     f"{tuple(int(v) for v in np.unravel_index(occ[s].mean(0).argmax(), (36, 60)))}")
    for d, (s_, _) in dom.items():
        prof = sal[s_].mean((0, 2))
        lines.append(f"{d}: saliency by row (x1000): {np.round(prof * 1000).astype(int).tolist()}")
    # the top edge against the rows below it (the saliency's top line): rows 0-1 minus rows 3-6
    from scipy.stats import spearmanr

    strip = {d: x[s_, 0:2].mean((1, 2)) - x[s_, 3:7].mean((1, 2)) for d, (s_, _) in dom.items()}
    own = {"real": -logit[:400], "synth-wild": logit[400:]}
    lines += ["", "| top edge: rows 0-1 minus rows 3-6 | 5% | median | 95% | Spearman with own-class logit |",
              "| --- | --- | --- | --- | --- |"]
    for d, v in strip.items():
        q = np.percentile(v, [5, 50, 95])
        lines.append(f"| {d} | {q[0]:.0f} | {q[1]:.0f} | {q[2]:.0f} | {spearmanr(v, own[d])[0]:+.2f} |")
    if not args.code:
        # version 2's light azimuth (wild_light's default arithmetic): which lights look most rendered
        import math

        from gazebench_plugins.synth.wild import wild_uniforms

        u = wild_uniforms(latents.sample_latents(torch.arange(400), seed=0, split="unlabelled",
                                                 config=data.config)).numpy()
        az = u[:, 0] * 2 * math.pi
        up = np.sin(az - 0.5 * np.sin(2 * az) / 2)
        lines += ["", "| synth-wild light, sin(azimuth) (1: from below; docs/renderer.md, round 8's correction) | n | own-class logit | called real "
                  "| rows 0-1 mean |", "| --- | --- | --- | --- | --- |"]
        for lo, hi in ((-1, -0.5), (-0.5, 0), (0, 0.5), (0.5, 1.01)):
            m = (up >= lo) & (up < hi)
            lines.append(f"| [{lo}, {hi if hi <= 1 else 1}) | {m.sum()} | {logit[400:][m].mean():.2f} | "
                         f"{(logit[400:][m] <= 0).mean():.2f} | {x[400:][m][:, 0:2].mean():.0f} |")
        lines.append(f"(real rows 0-1 mean: {x[:400, 0:2].mean():.0f})")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"name": args.name, "code": args.code, "convnet_folds": accs,
                                               "swaps": {k: np.mean(v, 0).tolist() for k, v in swaps.items()},
                                               "regions": table, "content": content}, indent=1))
    if not args.no_figure:
        _figure(args.figure, real, synth, occ, sal, rr, rs)
        print(f"figure: {args.figure}")


def _figure(path: str, real: np.ndarray, synth: np.ndarray, occ: np.ndarray, sal: np.ndarray,
            rr: np.ndarray, rs: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 4, figsize=(13, 4.4), constrained_layout=True)
    om = [occ[:400].mean(0), occ[400:].mean(0)]
    sm = [sal[:400].mean(0), sal[400:].mean(0)]
    ovmax = max(np.abs(m).max() for m in om)
    svmax = max(m.max() for m in sm)
    for i, (name, img, reg) in enumerate((("real 0:400", real, rr), ("synth-wild v2", synth, rs))):
        mean = img.mean(0)
        ax[i, 0].imshow(mean, cmap="gray", vmin=0, vmax=255)
        ax[i, 0].set_title(f"{name}: mean image", fontsize=9)
        ax[i, 1].imshow(mean, cmap="gray", vmin=0, vmax=255)
        # where the iris/pupil and the opening are in at least half the images
        ax[i, 1].contour((reg == 0).mean(0), [0.5], colors="tab:red", linewidths=1)
        ax[i, 1].contour((reg <= 1).mean(0), [0.5], colors="tab:cyan", linewidths=1)
        ax[i, 1].contour((reg <= 3).mean(0), [0.5], colors="tab:olive", linewidths=1, linestyles="dashed")
        ax[i, 1].set_title("regions (>=50%): iris red, opening cyan, lid margins olive" if i == 0 else
                           "regions from the renderer's masks", fontsize=8)
        im = ax[i, 2].imshow(om[i], cmap="RdBu_r", vmin=-ovmax, vmax=ovmax)
        ax[i, 2].set_title("occlusion: own-class logit drop (6x6 at the mean, stride 3);\nred: hiding it hurts, "
                           "blue: hiding it helps", fontsize=8)
        fig.colorbar(im, ax=ax[i, 2], shrink=0.8)
        im = ax[i, 3].imshow(sm[i], cmap="viridis", vmin=0, vmax=svmax)
        ax[i, 3].set_title("|input gradient| of own-class logit", fontsize=8)
        fig.colorbar(im, ax=ax[i, 3], shrink=0.8)
    ax[0, 1].set_title("regions (unet, >=50% of images):\niris red, opening cyan, lid margins olive", fontsize=8)
    for a in ax.flat:
        a.set_xticks([])
        a.set_yticks([])
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
