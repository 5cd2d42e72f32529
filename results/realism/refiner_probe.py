"""Issue 18, round 14: can a learned refiner (SimGAN, Shrivastava et al. 2017) take synth-wild the rest of the way?

    OMP_NUM_THREADS=1 python results/realism/refiner_probe.py --post 1 --hist 0 --lam 0.1 --steps 1500 --width 16 --seeds 15,16

A small residual CNN (three 3x3 conv layers of ``--width`` channels, optionally given the pixel's
coordinates, ``--coords 1``) is trained adversarially against a local patch discriminator (and, with
``--hist 1``, a logistic discriminator on soft intensity and gradient histograms) to make version 3's
``synth-wild`` renders (4000, render seeds 100-103) look like the real patches ``--fit`` (a tuning half),
with SimGAN's self-regularisation ``--lam`` (L1 to the input) and its history buffer. ``--post 1`` refines
the render before MPIIGaze's equalisation and JPEG (straight-through gradients); ``--post 0`` the final
crop; ``--reeq 1`` equalises the refined crop again; ``--mm W`` adds a moment-matching term on the
histogram features (the refined batch's standardised mean to the real one) instead of an adversary, ``--mmd W`` a kernel MMD on their whole distribution. Then fresh renders of ``--seeds`` are refined and
measured the standard way (``gazebench.realism.compare``, hist and convnet) against the other half
``--eval``, beside the same renders unrefined. Logs of the runs in docs/renderer.md: r14-refiner/.
Round 15 adds ``--sn 1`` (spectral normalisation on the patch discriminator) and ``--bound B`` (the
refiner's change limited to ``B * tanh``), to make round 14's g1 set-up train reliably.
Round 16 adds ``--blocks K`` (a residual refiner, receptive field 19 px at K 4), ``--dnet domain`` (the adversary
is the convnet domain classifier's own architecture), ``--mirror 1`` (a mirror-equivariant refiner) and
``--label 1`` (does the pupil found near the rendered one move when the crop is refined). Logs: r16-refiner/.
Research only: the renderer has no refiner.
"""
import argparse, json, os, time
from pathlib import Path
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from gazebench.plugins import get_plugin_manager
from gazebench.realism import compare, load_set
from refiner_net import Refiner

p = argparse.ArgumentParser()
p.add_argument("--fit", default="0:200")
p.add_argument("--eval", default="200:400")
p.add_argument("--steps", type=int, default=1500)
p.add_argument("--lam", type=float, default=0.5)
p.add_argument("--hist", type=float, default=1.0)
p.add_argument("--width", type=int, default=32)
p.add_argument("--seeds", default="15,16,17")
p.add_argument("--ntrain", type=int, default=4000)
p.add_argument("--save", default="")
p.add_argument("--coords", type=int, default=0)
p.add_argument("--post", type=int, default=1)
p.add_argument("--dlr", type=float, default=1e-3)
p.add_argument("--reeq", type=int, default=0)
p.add_argument("--hlr", type=float, default=1e-2, help="the histogram discriminator's learning rate")
p.add_argument("--mm", type=float, default=0.0,
               help="weight of a moment-matching term: the squared distance of the refined batch's mean histogram "
                    "features (standardised by the real set's) to the real set's mean, no adversary")
p.add_argument("--seed", type=int, default=0, help="the training's torch seed (weights, batches)")
p.add_argument("--mmd", type=float, default=0.0,
               help="weight of a kernel MMD (Gaussian kernels, bandwidths 1, 4 and 16) between the refined batch's and a "
                    "real batch's standardised histogram features: the whole distribution, no adversary")
p.add_argument("--sn", type=int, default=0, help="spectral normalisation on the patch discriminator's layers (round 15)")
p.add_argument("--blocks", type=int, default=0,
               help="round 16: a deeper refiner, this many residual blocks (two 3x3 convs each) of --width channels "
                    "after an input conv (0: round 14's three plain conv layers)")
p.add_argument("--dnet", default="patch", choices=("patch", "domain"),
               help="round 16: the adversary: round 14's local patch discriminator, or the very architecture the "
                    "convnet domain classifier uses (gazebench.realism._SmallCNN: one logit per crop)")
p.add_argument("--mirror", type=int, default=0,
               help="round 16: a mirror-equivariant refiner, (R(x) + flip(R(flip(x)))) / 2, so that it cannot add a "
                    "left-right shading asymmetry of its own (the statistic its first trainings broke)")
p.add_argument("--label", type=int, default=0,
               help="round 16: check the labels survive: on the first evaluation draw, the pupil found as the dark "
                    "centroid near the rendered pupil, raw and refined, against the rendered pupil's position")
p.add_argument("--bound", type=float, default=0.0,
               help="bound the refiner's change: bound * tanh(residual), in [-1, 1] units (0: unbounded; round 15)")
a = p.parse_args()
torch.manual_seed(a.seed)
REAL = Path(os.environ.get("GAZEBENCH_REAL", Path(__file__).resolve().parents[2].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))
real = np.load(REAL)["images"].astype(np.float32)
lo, hi = map(int, a.fit.split(":")); rfit = real[lo:hi]
lo, hi = map(int, a.eval.split(":")); reval = real[lo:hi]
pm = get_plugin_manager()
PRE = {"effects": "light,glare,tone,noise,blur"} if a.post else {}
from gazebench_plugins.synth.wild import jpeg
from gazebench.imaging import equalize


def st(x, f):
    return x + (f(x) - x).detach()


def post(y, q=None):
    if not a.post:
        return y
    v = (y + 1) * 127.5
    v = st(v, lambda t: t.round().clamp(0, 255))
    v = st(v, lambda t: equalize(t, "opencv"))
    if q is None:
        q = 72 + 6 * torch.rand(len(v))
    v = st(v, lambda t: jpeg(t, q))
    return v / 127.5 - 1
t0 = time.time()
tr = np.concatenate([load_set(pm, "synth-wild", root=None, split="unlabelled", slice_=None, n=a.ntrain // 4,
                              size=(36, 60), seed=s, params=PRE)[0] for s in (100, 101, 102, 103)]).astype(np.float32)
print("rendered", tr.shape, time.time() - t0, flush=True)
X = torch.from_numpy(tr).unsqueeze(1) / 127.5 - 1
Y = torch.from_numpy(rfit).unsqueeze(1) / 127.5 - 1
W = a.width


class DLocal(nn.Module):
    def __init__(s):
        super().__init__()
        s.b = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(16, 32, 3, 2, 1), nn.LeakyReLU(0.2),
                            nn.Conv2d(32, 32, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 1, 1))

    def forward(s, x):
        return s.b(x).flatten(1)


def soft_hist(v, bins, lo, hi_):
    # v (N, P) -> (N, bins) triangular soft assignment
    c = torch.linspace(lo, hi_, bins)
    wdt = (hi_ - lo) / (bins - 1)
    k = (1 - (v.unsqueeze(-1) - c).abs() / wdt).clamp(min=0)
    return k.mean(1)


def hfeat(x):
    v = (x + 1) * 127.5
    gx = v[:, 0, :-1, 1:] - v[:, 0, :-1, :-1]
    gy = v[:, 0, 1:, :-1] - v[:, 0, :-1, :-1]
    g = (gx * gx + gy * gy + 1e-6).sqrt()
    return torch.cat([soft_hist(v.flatten(1), 32, 4, 252), soft_hist(g.flatten(1).clamp(max=128), 32, 2, 126)], 1)


def mmd(f, r):
    """Biased squared MMD between feature batches with a sum of Gaussian kernels."""
    def k(a_, b_):
        d = torch.cdist(a_, b_).pow(2) / a_.shape[1]
        return sum(torch.exp(-d / bw) for bw in (1.0, 4.0, 16.0))
    return k(f, f).mean() + k(r, r).mean() - 2 * k(f, r).mean()


class DDomain(nn.Module):
    def __init__(s):
        super().__init__()
        from gazebench.realism import _SmallCNN
        s.b = _SmallCNN().net

    def forward(s, x):
        return s.b(x)


R, D, DH = Refiner(W, a.blocks, a.coords, a.bound, a.mirror), (DDomain() if a.dnet == "domain" else DLocal()), nn.Linear(64, 1)
if a.sn:
    for i, m in enumerate(D.b):
        if isinstance(m, nn.Conv2d):
            D.b[i] = nn.utils.parametrizations.spectral_norm(m)
with torch.no_grad():
    FR = hfeat(Y); FM, FS = FR.mean(0), FR.std(0) + 1e-3
oR = torch.optim.Adam(R.parameters(), 1e-3, betas=(0.5, 0.999))
oD = torch.optim.Adam([{'params': D.parameters(), 'lr': a.dlr}, {'params': DH.parameters(), 'lr': a.hlr}], betas=(0.5, 0.999))
bce = F.binary_cross_entropy_with_logits
B = 32
hist_buf = []
t0 = time.time()
for step in range(a.steps):
    xb = X[torch.randint(len(X), (B,))]
    yb = Y[torch.randint(len(Y), (B,))]
    raw = R(xb)
    fake = post(raw)
    # D step (real 1, fake 0), half the fakes from history
    fd = fake.detach()
    if hist_buf:
        hb = torch.cat(hist_buf)[torch.randint(sum(len(h) for h in hist_buf), (B // 2,))]
        fd = torch.cat([fd[: B // 2], hb])
    hist_buf.append(fake.detach()[:16]); hist_buf = hist_buf[-100:]
    lr_ = D(yb); lf = D(fd)
    hr = DH((hfeat(yb) - FM) / FS); hf = DH((hfeat(fd) - FM) / FS)
    ld = bce(lr_, torch.ones_like(lr_)) + bce(lf, torch.zeros_like(lf)) + a.hist * (bce(hr, torch.ones_like(hr)) + bce(hf, torch.zeros_like(hf)))
    oD.zero_grad(); ld.backward(); oD.step()
    # R step
    lf = D(fake); hf = DH((hfeat(fake) - FM) / FS)
    reg = (raw - xb).abs().mean()
    lg = bce(lf, torch.ones_like(lf)) + a.hist * bce(hf, torch.ones_like(hf)) + a.lam * reg * 10
    if a.mm:
        lg = lg + a.mm * (((hfeat(fake) - FM) / FS).mean(0) ** 2).mean()
    if a.mmd:
        lg = lg + a.mmd * mmd((hfeat(fake) - FM) / FS, (hfeat(yb) - FM) / FS)
    oR.zero_grad(); lg.backward(); oR.step()
    if step % 250 == 0:
        print(f"step {step} ld {ld.item():.3f} lg {lg.item():.3f} reg(levels) {reg.item() * 127.5:.2f} {time.time() - t0:.0f}s", flush=True)
R.eval()
if a.save:
    torch.save(R.state_dict(), a.save)
def dark_centre(imgs, pupil, r=3, q=10):
    """The pupil found in each image: the centroid of the darkest ``q`` percent of a (2r+1)^2 window around the
    rendered pupil (r 3, q 10: median 0.59 px from the rendered pupil on 200 raw crops of draw 15; the first
    runs of round 16, n0 n2 o0 p0, used r 6, q 25: 1.75 px)."""
    out = np.zeros((len(imgs), 2))
    h, w = imgs.shape[1:]
    for i, (img, (px, py)) in enumerate(zip(imgs, pupil)):
        x0, x1 = max(0, int(round(px)) - r), min(w, int(round(px)) + r + 1)
        y0, y1 = max(0, int(round(py)) - r), min(h, int(round(py)) + r + 1)
        win = img[y0:y1, x0:x1]
        wt = np.clip(np.percentile(win, q) - win, 0, None) + 1e-9
        yy, xx = np.mgrid[y0:y1, x0:x1]
        out[i] = (xx * wt).sum() / wt.sum(), (yy * wt).sum() / wt.sum()
    return out


def label_check(seed, raw, refined):
    """Do the labels survive? The rendered pupil (the label's image) against the pupil found in the raw and the
    refined crops, and how far refining moved the found pupil (pixels, the crop's 60 px width)."""
    from gazebench.stages import build
    data = build(pm, "dataset", "synth-wild", {}, "cpu").load("unlabelled", root=None, size=(36, 60), limit=len(raw), seed=seed)
    pupil = data.batch(list(range(len(raw)))).pupil.numpy()
    f0, f1 = dark_centre(raw, pupil), dark_centre(refined, pupil)
    e0, e1 = np.linalg.norm(f0 - pupil, axis=1), np.linalg.norm(f1 - pupil, axis=1)
    moved = np.linalg.norm(f1 - f0, axis=1)
    return {"raw_err_px_median": round(float(np.median(e0)), 3), "refined_err_px_median": round(float(np.median(e1)), 3),
            "moved_px_median": round(float(np.median(moved)), 3), "moved_px_p95": round(float(np.percentile(moved, 95)), 3)}


res = {"base": {"hist": [], "convnet": []}, "ref": {"hist": [], "convnet": []}, "delta": [], "gaps": []}
for s in map(int, a.seeds.split(",")):
    x, _ = load_set(pm, "synth-wild", root=None, split="unlabelled", slice_=None, n=len(reval), size=(36, 60), seed=s, params={})
    x0, _ = load_set(pm, "synth-wild", root=None, split="unlabelled", slice_=None, n=len(reval), size=(36, 60), seed=s, params=PRE)
    with torch.no_grad():
        y = post(R(torch.from_numpy(x0.astype(np.float32)).unsqueeze(1) / 127.5 - 1), 72 + 6 * torch.rand(len(x0), generator=torch.Generator().manual_seed(s)))
    yl = ((y + 1) * 127.5).round().clamp(0, 255)
    if a.reeq:
        yl = equalize(yl, "opencv")
    yr = yl[:, 0].numpy().astype(np.float64)
    if a.label and "label" not in res:
        res["label"] = label_check(s, x, yr)
        print("label check", res["label"], flush=True)
    res["delta"].append(float(np.abs(yr - x).mean()))
    for tag, imgs in (("base", x), ("ref", yr)):
        c = compare(reval.astype(np.float64), imgs, classifiers=("hist", "convnet"), seed=0)
        for k in ("hist", "convnet"):
            res[tag][k].append(round(c["classifiers"][k]["accuracy"], 3))
        if tag == "ref":
            from gazebench.realism import relative_gaps
            res["gaps"].append({k: round(v, 3) for k, v in relative_gaps(c["statistics"]["a"], c["statistics"]["b"]).items()})
    print(s, res, flush=True)
print(json.dumps({"args": vars(a), **res}))
