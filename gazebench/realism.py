"""How far apart two sets of eye images are: domain classifiers and image statistics.

Used by ``gazebench realism`` and by anyone tuning a renderer against real crops. Both sets are
compared as gray uint8 images of one size. Two kinds of measurement:

- **domain classifiers**: a classifier is trained to tell set A from set B; its held-out accuracy
  under stratified k-fold cross-validation (fixed seed) is the distance. 0.5 means the classifier
  finds nothing that separates the sets, 1.0 that every image gives itself away. Classifiers, from
  blunt to sharp: ``intensity`` (logistic regression on a 32-bin intensity histogram), ``gradient``
  (the same on a 32-bin gradient-magnitude histogram), ``hist`` (both histograms together: the
  "histogram classifier"), ``pixels`` (logistic regression on 3x3-pooled pixels), ``hog`` (logistic
  regression on HOG: 6x6-pixel cells, 9 unsigned orientations, 2x2-cell L2-Hys blocks) and ``convnet``
  (a three-layer convolutional net trained from scratch, globally pooled: what it finds, wherever it
  is), and ``layoutnet`` (opt-in: the same layers read by a dense layer over the last feature map,
  so where things sit in the crop counts too; a second network family for a search tuned against
  ``convnet``, which a refiner trained on that architecture can fool). The sets are balanced first (the larger
  one is subsampled with the seed), so chance is exactly 0.5.
- **image statistics** (:data:`STATISTICS`): the gradient and Laplacian energy (blur), the dark
  share of the centre (iris size and darkness), the border brightness (skin and lighting) and the
  left-right shading asymmetry, each averaged over a set.

Everything is deterministic for a seed (the CNN runs on one thread).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

#: (key, description) of every image statistic, in table order
STATISTICS: tuple[tuple[str, str], ...] = (
    ("grad_p99", "gradient magnitude, 99th percentile"),
    ("laplacian", "mean absolute Laplacian"),
    ("dark_centre", "dark fraction in the central region"),
    ("border", "border brightness"),
    ("lr_asymmetry", "left-right shading asymmetry (median)"),
    ("intensity_mean", "mean intensity"),
    ("intensity_std", "intensity standard deviation"),
    ("laplacian_crop_p10", "per-crop mean |Laplacian|, 10th percentile"),
    ("laplacian_crop_p90", "per-crop mean |Laplacian|, 90th percentile"),
)
#: the statistics a renderer is held to (the others are context)
TARGET_STATISTICS = ("grad_p99", "laplacian", "dark_centre", "border", "lr_asymmetry")
#: every domain classifier, blunt to sharp
CLASSIFIERS = ("intensity", "gradient", "hist", "pixels", "hog", "convnet", "layoutnet")
#: the classifiers that are networks trained from scratch (cross-validated by :func:`train_cnn`)
CNN_CLASSIFIERS = ("convnet", "layoutnet")
DEFAULT_CLASSIFIERS = ("hist", "intensity", "gradient", "hog", "convnet")


def gray_images(images: torch.Tensor | np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (N, C, H, W) or (N, H, W) images -> float64 gray (N, H, W) in [0, 255], resized to ``size``.

    Gray is BT.601 luma rounded to uint8 (as :func:`gazebench.types.to_gray`); resizing is bilinear
    with antialiasing, rounded back to integers so both sets keep the quantisation of uint8.
    """
    import torch.nn.functional as F

    from gazebench.types import to_gray

    t = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    if t.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {t.dtype}")
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4 or t.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W) or (N, 1|3, H, W), got {tuple(t.shape)}")
    g = to_gray(t.cpu())
    if size is not None and tuple(g.shape[-2:]) != tuple(size):
        g = F.interpolate(g.float(), size=tuple(size), mode="bilinear", align_corners=False,
                          antialias=True).round().clamp(0, 255)
    return g[:, 0].double().numpy()


def _gradient(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences on the common (H-1, W-1) grid: (gx, gy)."""
    return np.diff(x, axis=2)[:, :-1, :], np.diff(x, axis=1)[:, :, :-1]


def _abs_laplacian(x: np.ndarray) -> np.ndarray:
    """|4-neighbour Laplacian| of (N, H, W) images on their interior, (N, H-2, W-2)."""
    return np.abs(x[:, 1:-1, :-2] + x[:, 1:-1, 2:] + x[:, :-2, 1:-1] + x[:, 2:, 1:-1] - 4 * x[:, 1:-1, 1:-1])


def crop_laplacian(x: np.ndarray) -> np.ndarray:
    """Each (N, H, W) crop's mean |4-neighbour Laplacian| over its interior, (N,)."""
    return _abs_laplacian(np.asarray(x, dtype=np.float64)).mean((1, 2))


def image_statistics(x: np.ndarray) -> dict[str, float]:
    """The :data:`STATISTICS` of a set of gray images ``x`` (N, H, W), values in [0, 255].

    - ``grad_p99``: 99th percentile over all pixels of the forward-difference gradient magnitude
      (low: a blurred camera);
    - ``laplacian``: mean |4-neighbour Laplacian| over interior pixels (fine detail and noise);
    - ``dark_centre``: share of the central region (middle half of the rows and of the columns)
      darker than half the image's own border brightness (iris, pupil and lashes: their size and
      darkness relative to the skin);
    - ``border``: mean of the one-pixel frame (skin brightness after the crop's equalisation);
    - ``lr_asymmetry``: median over images of |mean of the left third - mean of the right third|
      (side light);
    - ``intensity_mean``, ``intensity_std``: over all pixels;
    - ``laplacian_crop_p10``, ``laplacian_crop_p90``: the 10th and 90th percentile over the crops of each
      crop's mean |Laplacian|: how far the smoothest and the sharpest crops are from the typical one (a
      set can match ``laplacian`` on average with crops both too smooth and too noisy: issue 18 round
      11 found version 2's renders at 9.9 / 36.0 where the real patches read 13.4 / 22.9).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 4 or x.shape[2] < 4 or len(x) == 0:
        raise ValueError(f"image_statistics needs (N, H, W) images of at least 4x4, got {x.shape}")
    n, h, w = x.shape
    gx, gy = _gradient(x)
    lap = _abs_laplacian(x)
    frame = np.ones((h, w), bool)
    frame[1:-1, 1:-1] = False
    border = x[:, frame].mean(1)                                          # (N,)
    centre = x[:, h // 4:h - h // 4, w // 4:w - w // 4]
    dark = (centre < 0.5 * border[:, None, None]).mean()
    third = max(1, w // 3)
    lr = np.abs(x[:, :, :third].mean((1, 2)) - x[:, :, -third:].mean((1, 2)))
    per_crop = lap.mean((1, 2))
    return {"grad_p99": float(np.percentile(np.hypot(gx, gy), 99)), "laplacian": float(lap.mean()),
            "dark_centre": float(dark), "border": float(border.mean()), "lr_asymmetry": float(np.median(lr)),
            "intensity_mean": float(x.mean()), "intensity_std": float(x.std()),
            "laplacian_crop_p10": float(np.percentile(per_crop, 10)),
            "laplacian_crop_p90": float(np.percentile(per_crop, 90))}


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------

def _hist(v: np.ndarray, bins: int, hi: float) -> np.ndarray:
    """Per-row normalised histogram of (N, P) values over [0, hi] (the last bin takes the rest)."""
    idx = np.clip((v / hi * bins).astype(np.int64), 0, bins - 1)
    out = np.zeros((len(v), bins))
    np.add.at(out, (np.repeat(np.arange(len(v)), v.shape[1]), idx.ravel()), 1.0)
    return out / v.shape[1]


def intensity_histogram(x: np.ndarray, bins: int = 32) -> np.ndarray:
    """(N, bins) share of pixels per intensity bin of [0, 256)."""
    return _hist(x.reshape(len(x), -1), bins, 256.0)


def gradient_histogram(x: np.ndarray, bins: int = 32) -> np.ndarray:
    """(N, bins) share of pixels per gradient-magnitude bin of [0, 128] (larger ones in the last)."""
    gx, gy = _gradient(x)
    return _hist(np.hypot(gx, gy).reshape(len(x), -1), bins, 128.0)


def pooled_pixels(x: np.ndarray) -> np.ndarray:
    """3x3 average-pooled pixels / 255, (N, H//3 * W//3)."""
    n, h, w = x.shape
    h3, w3 = h // 3, w // 3
    return x[:, :h3 * 3, :w3 * 3].reshape(n, h3, 3, w3, 3).mean((2, 4)).reshape(n, -1) / 255.0


def hog(x: np.ndarray, cell: int = 6, orientations: int = 9) -> np.ndarray:
    """Histogram of oriented gradients (Dalal and Triggs): (N, features).

    Central-difference gradients, unsigned orientations with linear interpolation between bins,
    ``cell`` x ``cell`` pixel cells, 2x2-cell blocks normalised with L2-Hys (clip 0.2).
    """
    n, h, w = x.shape
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gy[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    mag = np.hypot(gx, gy)
    ang = np.rad2deg(np.arctan2(gy, gx)) % 180.0
    pos = ang / (180.0 / orientations) - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    ch, cw = h // cell, w // cell
    hist = np.zeros((n, ch, cw, orientations))
    rows = (np.arange(ch * cell) // cell)
    cols = (np.arange(cw * cell) // cell)
    m = mag[:, :ch * cell, :cw * cell]
    ni = np.broadcast_to(np.arange(n)[:, None, None], m.shape)
    ri = np.broadcast_to(rows[None, :, None], m.shape)
    ci = np.broadcast_to(cols[None, None, :], m.shape)
    for b, wgt in ((lo % orientations, 1 - frac), ((lo + 1) % orientations, frac)):
        np.add.at(hist, (ni, ri, ci, b[:, :ch * cell, :cw * cell]), m * wgt[:, :ch * cell, :cw * cell])
    blocks = np.concatenate([hist[:, :-1, :-1], hist[:, 1:, :-1], hist[:, :-1, 1:], hist[:, 1:, 1:]], -1)
    blocks = blocks / np.sqrt((blocks ** 2).sum(-1, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks ** 2).sum(-1, keepdims=True) + 1e-6)
    return blocks.reshape(n, -1)


_FEATURES = {
    "intensity": intensity_histogram,
    "gradient": gradient_histogram,
    "hist": lambda x: np.concatenate([intensity_histogram(x), gradient_histogram(x)], 1),
    "pixels": pooled_pixels,
    "hog": hog,
}


# ---------------------------------------------------------------------------------------------
# classifiers
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _SmallCNN(torch.nn.Module):
    """Three 3x3 conv layers (8, 16, 32 channels) with pooling, global average, a linear output."""

    def __init__(self) -> None:
        super().__init__()
        c = torch.nn
        self.net = c.Sequential(
            c.Conv2d(1, 8, 3, padding=1), c.ReLU(), c.MaxPool2d(2),
            c.Conv2d(8, 16, 3, padding=1), c.ReLU(), c.MaxPool2d(2),
            c.Conv2d(16, 32, 3, padding=1), c.ReLU(),
            c.AdaptiveAvgPool2d(1), c.Flatten(), c.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


class _LayoutCNN(torch.nn.Module):
    """Three 3x3 conv layers as :class:`_SmallCNN`'s (8, 16, 8 channels) read by a linear layer over the whole
    last feature map (its size fixed by the crop's) instead of a global average: a position-aware second family."""

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        c = torch.nn
        h, w = (size[0] // 2) // 2, (size[1] // 2) // 2
        self.net = c.Sequential(
            c.Conv2d(1, 8, 3, padding=1), c.ReLU(), c.MaxPool2d(2),
            c.Conv2d(8, 16, 3, padding=1), c.ReLU(), c.MaxPool2d(2),
            c.Conv2d(16, 8, 3, padding=1), c.ReLU(),
            c.Flatten(), c.Dropout(0.2), c.Linear(8 * h * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def cnn_input(x: np.ndarray) -> torch.Tensor:
    """Gray images (N, H, W) in [0, 255] -> the small CNN's input (N, 1, H, W) in [-1, 1]."""
    return torch.from_numpy(np.asarray(x)).float().unsqueeze(1) / 127.5 - 1


def train_cnn(x_tr: np.ndarray, y_tr: np.ndarray, seed: int, epochs: int = 20,
              kind: str = "convnet") -> torch.nn.Module:
    """Train the ``convnet`` (:class:`_SmallCNN`) or ``layoutnet`` (:class:`_LayoutCNN`) domain classifier on
    gray images; returns it in eval mode.

    The logit is positive for label 1. Exactly the training :func:`domain_accuracy` does per fold.
    """
    if kind not in CNN_CLASSIFIERS:
        raise ValueError(f"unknown network {kind!r}: choose from {', '.join(CNN_CLASSIFIERS)}")
    torch.manual_seed(seed)
    net = _SmallCNN() if kind == "convnet" else _LayoutCNN(tuple(np.asarray(x_tr).shape[1:3]))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    xt = cnn_input(x_tr)
    yt = torch.from_numpy(y_tr).float()
    gen = torch.Generator().manual_seed(seed)
    batch = 32
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            j = perm[i:i + batch]
            if len(j) < 2:
                continue
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt[j]), yt[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def _cnn_fold(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int, epochs: int,
              kind: str = "convnet") -> np.ndarray:
    """Train the ``kind`` network on one fold; predicted labels of ``x_te``."""
    net = train_cnn(x_tr, y_tr, seed, epochs, kind)
    with torch.no_grad():
        logits = net(cnn_input(x_te))
    return (logits > 0).long().numpy()


def _signed_logit(net: torch.nn.Module, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """The logit of each image's own class: ``logit`` for label 1, ``-logit`` for label 0."""
    return net(x) * (2 * label.float() - 1)


def occlusion_map(net: torch.nn.Module, x: np.ndarray, label: np.ndarray, *, patch: int = 6, stride: int = 3,
                  fill: float | None = None, batch: int = 4096) -> np.ndarray:
    """Occlusion sensitivity of a binary classifier on gray images ``x`` (N, H, W) in [0, 255].

    A ``patch`` x ``patch`` square of value ``fill`` (default: the mean pixel of ``x``) slides over
    each image with ``stride``; each position records the drop of the logit of the image's own
    class (``label``: 0 or 1; the net's logit favours 1). A pixel's value is the mean drop over
    the positions that cover it (float64 (N, H, W); positive: hiding this pixel hurts the
    classifier). ``net`` maps (B, 1, H, W) inputs in [-1, 1] to (B,) logits (:func:`cnn_input`).
    """
    x = np.asarray(x, np.float64)
    n, h, w = x.shape
    if patch > h or patch > w:
        raise ValueError(f"patch {patch} larger than the images ({h}x{w})")
    fill = float(x.mean()) if fill is None else float(fill)
    ys = list(range(0, h - patch + 1, stride))
    xs = list(range(0, w - patch + 1, stride))
    # the last row/column of positions reaches the far edge even when the stride does not divide
    ys += [h - patch] if ys[-1] != h - patch else []
    xs += [w - patch] if xs[-1] != w - patch else []
    pos = [(r, c) for r in ys for c in xs]
    lab = torch.as_tensor(np.asarray(label)).long()
    inp = cnn_input(x)
    fill_n = fill / 127.5 - 1
    drop = np.zeros((n, len(pos)))
    with torch.no_grad():
        base = _signed_logit(net, inp, lab).numpy()
        per = max(1, batch // len(pos))
        for i in range(0, n, per):
            xi, li = inp[i:i + per], lab[i:i + per]
            occ = xi.unsqueeze(1).repeat(1, len(pos), 1, 1, 1)
            for k, (r, c) in enumerate(pos):
                occ[:, k, :, r:r + patch, c:c + patch] = fill_n
            out = _signed_logit(net, occ.flatten(0, 1), li.repeat_interleave(len(pos))).view(len(xi), len(pos))
            drop[i:i + per] = base[i:i + per, None] - out.numpy()
    total = np.zeros((n, h, w))
    count = np.zeros((h, w))
    for k, (r, c) in enumerate(pos):
        total[:, r:r + patch, c:c + patch] += drop[:, k, None, None]
        count[r:r + patch, c:c + patch] += 1
    return total / count


def input_saliency(net: torch.nn.Module, x: np.ndarray, label: np.ndarray) -> np.ndarray:
    """|d (own-class logit) / d input| per pixel of gray images ``x`` (N, H, W): the gradient with respect to the
    net's input (:func:`cnn_input`, pixel / 127.5 - 1); float64 (N, H, W)."""
    inp = cnn_input(np.asarray(x, np.float64)).requires_grad_(True)
    lab = torch.as_tensor(np.asarray(label)).long()
    _signed_logit(net, inp, lab).sum().backward()
    return inp.grad[:, 0].abs().double().numpy()


def balance(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Subsample the larger set (seeded, without replacement) so both hold min(len(a), len(b))."""
    n = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    pick = (lambda s: s if len(s) == n else s[np.sort(rng.choice(len(s), n, replace=False))])
    return pick(a), pick(b)


def _balanced_folds(a: np.ndarray, b: np.ndarray, folds: int, seed: int
                    ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Both sets balanced (:func:`balance`), stacked as ``x`` with labels ``y`` (0: A, 1: B), and the
    stratified ``folds``-fold (train, test) splits shuffled with ``seed``: what every domain classifier
    and :func:`convnet_sensitivity` cross-validate on."""
    from sklearn.model_selection import StratifiedKFold

    a, b = balance(np.asarray(a, np.float64), np.asarray(b, np.float64), seed)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"the two sets differ in image size: {a.shape[1:]} vs {b.shape[1:]}")
    n = len(a)
    if n < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {folds} images per set, got {n}")
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return x, y, list(splitter.split(np.zeros(len(y)), y))


def domain_accuracy(a: np.ndarray, b: np.ndarray, kind: str = "hist", *, folds: int = 5, seed: int = 0,
                    cnn_epochs: int = 20) -> dict[str, Any]:
    """Held-out accuracy of a classifier telling gray images ``a`` from ``b`` (each (N, H, W)).

    Stratified ``folds``-fold cross-validation, shuffled with ``seed``; the sets are balanced first
    (:func:`balance`). Returns ``{"classifier", "accuracy" (mean over folds), "std" (over folds),
    "folds" (each fold's accuracy), "n" (images per set)}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {kind!r}: choose from {', '.join(CLASSIFIERS)}")
    x, y, splits = _balanced_folds(a, b, folds, seed)
    n = len(x) // 2
    if kind == "hog" and min(x.shape[1:]) < 12:
        # 2x2-cell blocks of 6-pixel cells: a smaller side has no block and HOG no feature
        raise ValueError(f"hog needs images of at least 12x12 pixels (two 6-pixel cells a side), got "
                         f"{x.shape[1]}x{x.shape[2]}")
    if kind == "layoutnet" and min(x.shape[1:]) < 4:
        # two 2x2 poolings: a smaller side leaves the dense layer no feature map to read
        raise ValueError(f"layoutnet needs images of at least 4x4 pixels, got {x.shape[1]}x{x.shape[2]}")
    feats = None if kind in CNN_CLASSIFIERS else _FEATURES[kind](x)
    accs: list[float] = []
    with _one_thread():
        for k, (tr, te) in enumerate(splits):
            if kind in CNN_CLASSIFIERS:
                pred = _cnn_fold(x[tr], y[tr], x[te], seed * 1000 + k, cnn_epochs, kind)
            else:
                model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
                pred = model.fit(feats[tr], y[tr]).predict(feats[te])
            accs.append(float((pred == y[te]).mean()))
    return {"classifier": kind, "accuracy": float(np.mean(accs)), "std": float(np.std(accs)),
            "folds": accs, "n": n}


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.round(x).clip(0, 255)


def shift_rows(x: np.ndarray, dy: int) -> np.ndarray:
    """Gray images (N, H, W) with their rows moved by ``dy`` (positive: down), the edge row repeated."""
    return x[:, np.clip(np.arange(x.shape[1]) - dy, 0, x.shape[1] - 1)]


def median3(x: np.ndarray) -> np.ndarray:
    """A 3x3 median filter of gray images (N, H, W), the edges replicated."""
    t = torch.from_numpy(np.ascontiguousarray(x)).float().unsqueeze(1)
    p = torch.nn.functional.pad(t, (1, 1, 1, 1), mode="replicate").unfold(2, 3, 1).unfold(3, 3, 1)
    return p.reshape(*p.shape[:4], 9).median(-1).values[:, 0].numpy().astype(np.float64)


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    import io

    from PIL import Image

    out = np.empty_like(x, dtype=np.float64)
    for i, img in enumerate(_to_u8(x).astype(np.uint8)):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buf), dtype=np.float64)
    return out


def _equalise(x: np.ndarray) -> np.ndarray:
    from gazebench.imaging import equalize

    t = torch.from_numpy(_to_u8(x).astype(np.uint8)).unsqueeze(1)
    return equalize(t, "opencv")[:, 0].numpy().astype(np.float64)


def manipulations(seed: int = 0) -> dict[str, Any]:
    """The image manipulations :func:`convnet_sensitivity` applies, name -> f(gray (N, H, W)) -> same.

    Camera and texture (sensor noise, blur, sharpening, JPEG, equalisation, a median filter), tone (gamma)
    and layout (a mirror, a shift of 2 px up or down). Noise is seeded.
    """
    rng = np.random.default_rng(seed)
    return {
        "noise sigma 3": lambda x: _to_u8(x + rng.normal(0, 3, x.shape)),
        "blur sigma 0.8": lambda x: _to_u8(gaussian_blur(x, 0.8)),
        "unsharp mask (x1, sigma 1)": lambda x: _to_u8(2 * x - gaussian_blur(x, 1.0)),
        "median 3x3": median3,
        "JPEG quality 60": lambda x: _jpeg(x, 60),
        "histogram equalised": _equalise,
        "gamma 0.7 (brighter)": lambda x: _to_u8(255 * (x / 255) ** 0.7),
        "gamma 1.4 (darker)": lambda x: _to_u8(255 * (x / 255) ** 1.4),
        "mirrored left-right": lambda x: x[:, :, ::-1].copy(),
        "moved 2 px up": lambda x: shift_rows(x, -2),
        "moved 2 px down": lambda x: shift_rows(x, 2),
    }


def convnet_sensitivity(a: np.ndarray, b: np.ndarray, *, folds: int = 5, seed: int = 0,
                        cnn_epochs: int = 20) -> dict[str, Any]:
    """What the ``convnet`` domain classifier tells A from B by: its calls on manipulated held-out images.

    The nets are the ones :func:`domain_accuracy` trains (same balancing, folds and seeds). Each fold's
    net classifies its held-out A and B images untouched and after each of :func:`manipulations`, one at
    a time; the shares called A, averaged over the folds, say which properties it reads: one that turns
    A's images into B's (``a_called_a`` falls) moves them towards what B has, and one that turns B's into
    A's (``b_called_a`` rises), towards what A has. Returns ``{name: {"a_called_a", "b_called_a"}}`` with
    ``"none"`` first.
    """
    x, y, splits = _balanced_folds(a, b, folds, seed)
    shares: dict[str, list[list[float]]] = {}
    with _one_thread():
        for k, (tr, te) in enumerate(splits):
            net = train_cnn(x[tr], y[tr], seed * 1000 + k, cnn_epochs)
            held = [x[te][y[te] == cls] for cls in (0, 1)]
            for name, f in {"none": lambda v: v, **manipulations(seed * 1000 + k)}.items():
                row = shares.setdefault(name, [[], []])
                for cls in (0, 1):
                    with torch.no_grad():
                        logit = net(cnn_input(f(held[cls]).astype(np.float32)))
                    row[cls].append(float((logit <= 0).float().mean()))
    return {name: {"a_called_a": float(np.mean(v[0])), "b_called_a": float(np.mean(v[1]))}
            for name, v in shares.items()}


def compare(a: np.ndarray, b: np.ndarray, *, classifiers: Sequence[str] = DEFAULT_CLASSIFIERS,
            folds: int = 5, seed: int = 0, cnn_epochs: int = 20) -> dict[str, Any]:
    """Every measurement between gray image sets ``a`` and ``b``: classifiers and statistics.

    Returns ``{"classifiers": {kind: domain_accuracy(...)}, "statistics": {"a": {...}, "b": {...}},
    "n_a", "n_b"}``.
    """
    return {
        "classifiers": {k: domain_accuracy(a, b, k, folds=folds, seed=seed, cnn_epochs=cnn_epochs)
                        for k in classifiers},
        "statistics": {"a": image_statistics(a), "b": image_statistics(b)},
        "n_a": int(len(a)), "n_b": int(len(b)),
    }


def relative_gaps(stats_a: dict[str, float], stats_b: dict[str, float],
                  keys: Sequence[str] = TARGET_STATISTICS) -> dict[str, float]:
    """|b - a| / |a| for each statistic (a is the reference, e.g. the real set)."""
    return {k: abs(stats_b[k] - stats_a[k]) / max(abs(stats_a[k]), 1e-9) for k in keys}


#: the bands ``gazebench realism --bands`` can measure in: Gaussian sigma in pixels at 60 px wide
#: (scaled with the width). ``low`` keeps the eye's shape and shading and drops the fine texture;
#: ``high`` (the image minus its blur, around mid-gray) keeps only the fine texture and edges
BANDS: dict[str, float] = {"low": 2.0, "high": 1.5}


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of gray images (N, H, W), mirror padding at the edges.

    The kernel is truncated at ``int(3 * sigma + 0.5)`` pixels: the same numbers as
    ``scipy.ndimage.gaussian_filter(x, (0, sigma, sigma), mode="reflect", truncate=3)`` (tested).
    """
    x = np.asarray(x, np.float64)
    r = int(3 * sigma + 0.5)
    if sigma <= 0 or r == 0:
        return x.copy()
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        xp = np.pad(x, pad, mode="symmetric")       # scipy's "reflect": the edge pixel repeated
        n = x.shape[axis]
        x = sum(w * np.take(xp, np.arange(i, i + n), axis=axis) for i, w in enumerate(k))
    return x


def band_sigma(band: str, width: int) -> float:
    """The Gaussian sigma (pixels) of a :data:`BANDS` filter on images ``width`` pixels wide."""
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}: choose from {', '.join(BANDS)}")
    return BANDS[band] * width / 60


def band_filter(x: np.ndarray, band: str) -> np.ndarray:
    """Gray images (N, H, W) in [0, 255] filtered to one of :data:`BANDS` (same shape and range)."""
    blur = gaussian_blur(x, band_sigma(band, x.shape[2]))
    return blur if band == "low" else np.clip(np.asarray(x, np.float64) - blur + 128, 0, 255)


# ---------------------------------------------------------------------------------------------
# two datasets, a record, a grid (``gazebench realism``)
# ---------------------------------------------------------------------------------------------

@dataclass
class RealismConfig:
    """What ``gazebench realism`` compares: set A and set B, each a registered dataset's split.

    ``*_slice``: ``"START:STOP"`` of the split's samples (a held-out part of a set), applied
    before ``n`` (the most images per set). ``*_split``: default ``test`` where the dataset has
    one, else ``unlabelled``, else its first split.
    """

    a: str
    b: str
    a_root: str | None = None
    b_root: str | None = None
    a_split: str | None = None
    b_split: str | None = None
    a_slice: str | None = None
    b_slice: str | None = None
    n: int = 600
    size: tuple[int, int] = (36, 60)
    classifiers: list[str] = field(default_factory=lambda: list(DEFAULT_CLASSIFIERS))
    folds: int = 5
    seed: int = 0
    cnn_epochs: int = 20
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: also measure the classifiers on both sets filtered to these :data:`BANDS` (``low``, ``high``)
    bands: list[str] = field(default_factory=list)
    #: also measure the classifiers on these horizontal bands of rows (``"0:12"``) of both sets
    rows: list[str] = field(default_factory=list)
    #: also report what the convnet tells the sets apart by (:func:`convnet_sensitivity`)
    sensitivity: bool = False
    #: also measure the identity floor on this many of B's subjects (:func:`identity_floor`; 0: not)
    identity_floor: int = 0
    #: how many samples of B's split, from its slice's start, to search for those subjects (None: 20 x ``n``)
    identity_pool: int | None = None
    grid: str | None = None
    out: str | None = None
    command: str = ""


def parse_slice(text: str | None) -> tuple[int, int | None]:
    """``"400:600"`` -> (400, 600); ``"400:"`` -> (400, None); None -> (0, None)."""
    if text is None or text == "":
        return 0, None
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start = int(parts[0]) if parts[0].strip() else 0
        stop = int(parts[1]) if parts[1].strip() else None
    except ValueError:
        raise ValueError(f"slice {text!r}: expected START:STOP, e.g. 400:600") from None
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(f"slice {text!r}: expected 0 <= START < STOP")
    return start, stop


#: the fewest rows a band of :attr:`RealismConfig.rows` may have: HOG needs two 6-pixel cells
MIN_BAND_ROWS = 12


def parse_rows(text: str, height: int) -> tuple[int, int]:
    """``"0:12"`` -> (0, 12): a band of rows of an image ``height`` rows high, at least
    :data:`MIN_BAND_ROWS` of them."""
    try:
        start, stop = parse_slice(text)
    except ValueError:
        raise ValueError(f"rows {text!r}: expected START:STOP, e.g. 0:12") from None
    stop = height if stop is None else stop
    if stop > height:
        raise ValueError(f"rows {text!r}: the images are {height} rows high")
    if stop - start < MIN_BAND_ROWS:
        raise ValueError(f"rows {text!r}: a band needs at least {MIN_BAND_ROWS} rows (two HOG cells), got {stop - start}")
    return start, stop


def _default_split(splits: Sequence[str]) -> str:
    for s in ("test", "unlabelled"):
        if s in splits:
            return s
    return splits[0]


def load_set(pm: Any, name: str, *, root: str | None, split: str | None, slice_: str | None, n: int,
             size: tuple[int, int], seed: int, params: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Gray images (N, H, W) of one side and what the record says of it (the dataset's own info)."""
    from gazebench.stages import build

    dataset = build(pm, "dataset", name, dict(params), "cpu")
    split = split or _default_split(dataset.splits)
    if split not in dataset.splits:
        raise ValueError(f"dataset {name!r} has no split {split!r} (it has {', '.join(dataset.splits)})")
    start, stop = parse_slice(slice_)
    stop = start + n if stop is None else min(stop, start + n)
    # a dataset's ``limit`` may draw a seeded subset rather than the first samples: a slice
    # means positions in the whole split, so it opens the split whole (datasets read lazily)
    data = dataset.load(split, root=root, size=tuple(size), limit=None if slice_ else n, seed=seed)
    if len(data) <= start:
        raise ValueError(f"dataset {name!r} split {split!r} has {len(data)} samples: none from {start} on")
    batch = data.batch(list(range(start, min(stop, len(data)))))
    info = {**getattr(data, "info", {}), "dataset": name, "split": split, "root": root,
            "slice": [start, start + len(batch)], "n": len(batch), "component": dataset.describe()}
    return gray_images(batch.images, size), info


def load_subjects(pm: Any, name: str, *, root: str | None, split: str, start: int, pool: int,
                  size: tuple[int, int], seed: int, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Gray images (N, H, W), subject ids (N,) of ``pool`` samples of ``split`` from ``start`` on (the
    split opened whole, in its order), and that range [start, stop).

    Raises ValueError when the dataset has no samples there or gives no subject ids.
    """
    from gazebench.stages import build

    data = build(pm, "dataset", name, dict(params), "cpu").load(split, root=root, size=tuple(size), limit=None,
                                                                seed=seed)
    stop = min(len(data), start + int(pool))
    if stop <= start:
        raise ValueError(f"the identity floor needs samples of {name!r} from {start} on, and its {split!r} split "
                         f"has {len(data)}")
    batch = data.batch(list(range(start, stop)))
    if batch.subject is None:
        raise ValueError(f"dataset {name!r} gives no subject ids, which the identity floor needs (it compares "
                         f"one subject's images against the whole set)")
    return gray_images(batch.images, size), batch.subject.cpu().numpy().astype(np.int64), [start, stop]


def identity_floor(images: np.ndarray, subjects: np.ndarray, *, n: int, count: int, classifiers: Sequence[str],
                   folds: int = 5, seed: int = 0, cnn_epochs: int = 20) -> dict[str, Any]:
    """What a *perfect* model of a set scores against one person, from a pool of its images with subject ids.

    A real set of one participant compared with a renderer's population carries who that person is as
    well as any rendering gap; this is the accuracy identity alone gives. For each of ``count``
    subjects (the most frequent first): its first ``n`` images of the pool against ``n`` others drawn
    from the rest of the pool (every subject, that one's other images too: the population), every
    classifier as :func:`compare` runs it. ``n`` should be the size the floor is read against, since
    accuracy grows with the training size. Subjects with fewer than ``n`` images, or a pool too small
    to leave ``n`` others, are listed in ``skipped`` with their counts.
    """
    ids, counts = np.unique(subjects, return_counts=True)
    enough = (counts >= n) & (len(subjects) - n >= n)
    # the most frequent first, ties by id (np.unique sorts the ids; a stable sort keeps that order)
    chosen = [int(k) for k in ids[enough][np.argsort(-counts[enough], kind="stable")][:count]]
    skipped = {int(k): int(c) for k, c in zip(ids[~enough], counts[~enough])}
    if not chosen:
        raise ValueError(f"no subject has the {n} images the identity floor needs, with {n} others left (pool of "
                         f"{len(subjects)}: " + ", ".join(f"subject {k}: {c}" for k, c in skipped.items())
                         + "): raise --identity-pool or lower -n")
    per = []
    for k in chosen:
        own = np.flatnonzero(subjects == k)[:n]
        rest = np.setdiff1d(np.arange(len(subjects)), own)
        others = np.random.default_rng([seed, int(k)]).choice(rest, n, replace=False)
        res = compare(images[own], images[others], classifiers=classifiers, folds=folds, seed=seed,
                      cnn_epochs=cnn_epochs)
        per.append({"subject": int(k), "n": int(n),
                    "classifiers": {c: v["accuracy"] for c, v in res["classifiers"].items()},
                    "gaps": relative_gaps(res["statistics"]["a"], res["statistics"]["b"])})
    summary = {}
    for c in classifiers:
        v = np.asarray([r["classifiers"][c] for r in per])
        summary[c] = {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
    # how much of a population the pool is: a dataset read in subject order (mpiigaze) puts one or two people
    # in a pool that starts at its beginning, and "the rest" is then those, not the set's population
    return {"subjects": per, "classifiers": summary, "skipped": skipped, "asked": int(count),
            "pool_subjects": int(len(ids)), "largest_share": float(counts.max() / len(subjects))}


def grid_image(a: np.ndarray, b: np.ndarray, n: int = 8, scale: int = 3) -> np.ndarray:
    """uint8 side-by-side grid: ``n`` rows, ``n`` images of A left, a gap, ``n`` of B right."""
    k = min(n, len(a), len(b))
    rows = min(n, len(a) // k, len(b) // k) if k else 0
    h, w = a.shape[1:]
    gap = np.full((h, max(2, w // 10)), 255.0)
    lines = []
    for r in range(max(rows, 1)):
        left = np.concatenate(list(a[r * k:(r + 1) * k]), 1)
        right = np.concatenate(list(b[r * k:(r + 1) * k]), 1)
        lines.append(np.concatenate([left, gap, right], 1))
    img = np.concatenate(lines, 0).clip(0, 255).astype(np.uint8)
    return img.repeat(scale, 0).repeat(scale, 1)


def run_realism(cfg: RealismConfig, pm: Any = None, log: Any = None) -> dict[str, Any]:
    """Load both sets, measure them (:func:`compare`), write the grid and the record; return it."""
    import sys

    from gazebench.plugins import get_plugin_manager
    from gazebench.results import SCHEMA_REALISM, finish_record, new_record

    pm = pm or get_plugin_manager()
    say = log or (lambda m: print(m, file=sys.stderr))
    bad = [c for c in cfg.classifiers if c not in CLASSIFIERS]
    if bad:
        raise ValueError(f"unknown classifier(s) {', '.join(bad)}: choose from {', '.join(CLASSIFIERS)}")
    if cfg.folds < 2:
        raise ValueError(f"--folds must be at least 2, got {cfg.folds}")
    bad = [b for b in cfg.bands if b not in BANDS]
    if bad:
        raise ValueError(f"unknown band(s) {', '.join(bad)}: choose from {', '.join(BANDS)}")
    row_bands = {r: parse_rows(r, cfg.size[0]) for r in cfg.rows}
    record = new_record(SCHEMA_REALISM, cfg, pm, "cpu")
    sets = {}
    for side in ("a", "b"):
        name = getattr(cfg, side)
        sets[side] = load_set(pm, name, root=getattr(cfg, f"{side}_root"), split=getattr(cfg, f"{side}_split"),
                              slice_=getattr(cfg, f"{side}_slice"), n=cfg.n, size=cfg.size, seed=cfg.seed,
                              params=cfg.params.get(name, {}))
        say(f"{side}: {sets[side][1]['n']} images of {name} ({sets[side][1]['split']})")
    a, b = sets["a"][0], sets["b"][0]
    say(f"measuring: statistics and {', '.join(cfg.classifiers)} ({cfg.folds}-fold, seed {cfg.seed})")
    result = compare(a, b, classifiers=cfg.classifiers, folds=cfg.folds, seed=cfg.seed, cnn_epochs=cfg.cnn_epochs)
    record.update(sets={"a": sets["a"][1], "b": sets["b"][1]}, **result,
                  gaps=relative_gaps(result["statistics"]["a"], result["statistics"]["b"]),
                  statistics_help=dict(STATISTICS))
    if cfg.bands:
        record["bands"] = {}
        for band in cfg.bands:
            say(f"measuring in the {band} band: {', '.join(cfg.classifiers)}")
            fa, fb = band_filter(a, band), band_filter(b, band)
            record["bands"][band] = {
                "sigma_px": band_sigma(band, a.shape[2]),
                "classifiers": {k: domain_accuracy(fa, fb, k, folds=cfg.folds, seed=cfg.seed, cnn_epochs=cfg.cnn_epochs)
                                for k in cfg.classifiers}}
    if row_bands:
        record["rows"] = {}
        for text, (r0, r1) in row_bands.items():
            say(f"measuring on rows {r0}:{r1}: {', '.join(cfg.classifiers)}")
            ra, rb = np.ascontiguousarray(a[:, r0:r1]), np.ascontiguousarray(b[:, r0:r1])
            record["rows"][f"{r0}:{r1}"] = {
                "classifiers": {k: domain_accuracy(ra, rb, k, folds=cfg.folds, seed=cfg.seed, cnn_epochs=cfg.cnn_epochs)
                                for k in cfg.classifiers}}
    if cfg.sensitivity:
        say(f"convnet sensitivity: {len(manipulations())} manipulations of the held-out images ({cfg.folds}-fold)")
        record["sensitivity"] = convnet_sensitivity(a, b, folds=cfg.folds, seed=cfg.seed, cnn_epochs=cfg.cnn_epochs)
    if cfg.identity_floor:
        info_b = sets["b"][1]
        start = parse_slice(cfg.b_slice)[0]
        pool = cfg.identity_pool or 20 * cfg.n
        n_floor = min(len(a), len(b))     # the size A against B was measured at
        say(f"identity floor: {cfg.identity_floor} subjects of {cfg.b} among its samples {start}:{start + pool}, "
            f"{n_floor} images each against {n_floor} others ({', '.join(cfg.classifiers)})")
        pool_images, pool_ids, span = load_subjects(pm, cfg.b, root=cfg.b_root, split=info_b["split"], start=start,
                                                    pool=pool, size=cfg.size, seed=cfg.seed,
                                                    params=cfg.params.get(cfg.b, {}))
        record["identity_floor"] = {"pool": span, **identity_floor(
            pool_images, pool_ids, n=n_floor, count=cfg.identity_floor, classifiers=cfg.classifiers,
            folds=cfg.folds, seed=cfg.seed, cnn_epochs=cfg.cnn_epochs)}
    if cfg.grid:
        from PIL import Image

        from gazebench.io import atomic_path

        path = Path(cfg.grid)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(grid_image(a, b)).save(tmp, format="PNG")
        record["grid"] = str(path)
    return finish_record(record, cfg.out, "realism", pm)


def _columns_table(classifiers: dict[str, Any], columns: dict[str, Any], title: str, heads: list[str]) -> list[str]:
    """A titled table: one line per classifier, one column per filtered band or band of rows."""
    out = ["", title, "  " + f"{'':<10} " + "".join(f"{h:>24}" for h in heads)]
    for k in classifiers:
        cells = "".join(f"{v['classifiers'][k]['accuracy']:>15.3f} +- {v['classifiers'][k]['std']:.3f}"
                        for v in columns.values())
        out.append(f"  {k:<10} {cells}")
    return out


def table_lines(record: dict[str, Any]) -> list[str]:
    """The record as plain text: classifier accuracies (mean +- std over folds), statistics A | B."""
    sa, sb = record["sets"]["a"], record["sets"]["b"]
    name = (lambda s: f"{s['dataset']}[{s['split']} {s['slice'][0]}:{s['slice'][1]}]")
    out = [f"A = {name(sa)}, B = {name(sb)}: {record['n_a']} vs {record['n_b']} images",
           "", "domain classifier (held-out accuracy; 0.5 = indistinguishable)"]
    for k, v in record["classifiers"].items():
        folds = " ".join(f"{f:.2f}" for f in v["folds"])
        out.append(f"  {k:<10} {v['accuracy']:.3f} +- {v['std']:.3f}   folds {folds}  ({v['n']} per set)")
    bands = record.get("bands") or {}
    if bands:
        out += _columns_table(record["classifiers"], bands,
                              "the same classifiers on both sets filtered (low: the shape and shading; high: the fine texture)",
                              [f"{b} (sigma {v['sigma_px']:.1f} px)" for b, v in bands.items()])
    rows = record.get("rows") or {}
    if rows:
        out += _columns_table(record["classifiers"], rows,
                              "the same classifiers on horizontal bands of rows only (what each part of the crop gives away)",
                              [f"rows {r}" for r in rows])
    sens = record.get("sensitivity")
    if sens:
        out += ["", "what the convnet reads: each fold's net on its held-out images, manipulated (share called A)",
                f"  {'manipulation':<28} {'A called A':>11} {'B called A':>11}"]
        for name, v in sens.items():
            out.append(f"  {name:<28} {v['a_called_a']:>11.3f} {v['b_called_a']:>11.3f}")
    floor = record.get("identity_floor")
    if floor:
        got = len(floor["subjects"])
        out += ["", f"identity floor: one subject of B against the rest of B, {got} subject(s)"
                    + (f" of {floor['asked']} asked" if got < floor["asked"] else "")
                    + f" ({floor['subjects'][0]['n']} images each): what a perfect model of B scores against one person"]
        for k, v in floor["classifiers"].items():
            acc = record["classifiers"][k]["accuracy"]
            where = "above its range" if acc > v["max"] else "below its range" if acc < v["min"] else "within its range"
            out.append(f"  {k:<10} floor {v['mean']:.3f} (min {v['min']:.3f}, max {v['max']:.3f});  A vs B {acc:.3f}, {where}")
        if floor["skipped"]:
            out.append("  skipped (too few images in the pool): "
                       + ", ".join(f"subject {k}: {n}" for k, n in sorted(floor["skipped"].items(), key=lambda t: int(t[0]))))
        few = floor.get("pool_subjects", floor["asked"]) < floor["asked"]
        if few or floor.get("largest_share", 0.0) > 0.5:
            out.append(f"  note: the pool ({floor['pool'][0]}:{floor['pool'][1]}) holds {floor['pool_subjects']} subject(s), "
                       f"{floor['largest_share']:.0%} of it one subject: 'the rest of B' is those, not B's population; "
                       "raise --identity-pool (a set read in subject order, as mpiigaze is, needs all of it)")
    out += ["", f"  {'statistic':<40} {'A':>9} {'B':>9} {'B/A-1':>7}"]
    for key, text in STATISTICS:
        if key not in record["statistics"]["a"]:
            continue    # a record written before the statistic was added
        va, vb = record["statistics"]["a"][key], record["statistics"]["b"][key]
        rel = (vb - va) / va if va else float("nan")
        fmt = ".3f" if max(abs(va), abs(vb)) < 10 else ".1f"
        out.append(f"  {text:<40} {va:>9{fmt}} {vb:>9{fmt}} {rel:>+7.0%}")
    return out
