"""The ``synth-wild`` style: the same latent eyes as real webcam crops (MPIIGaze) look.

Every degradation is drawn per sample from the sample's own key (slots from
:data:`.latents.WILD_SLOT` on), so a wild image depends only on (seed, split, index), and is
vectorised over the batch:

- light: strong directional light, mostly from a side, low ambient, rarely a hard cast shadow;
  the camera records irises near black and the sclera greyer than the skin, and the orbit
  around the opening in shade (in :func:`wild_light`, used by the renderer itself);
- camera: exposure (often a little over, clipping the brightest skin), gamma, colour cast, some
  contrast loss, rarely glare or a glasses reflection and frame, shot and read noise, the
  normalising warp's blur, then fine grain at the crop's scale, 8-bit quantisation;
- pipeline: MPIIGaze's histogram equalisation of the normalised crop (on luma), then JPEG at
  quality about 75 (8x8 DCT quantisation, 4:2:0 chroma), the artefacts of the real patches.
  Colour images keep their luma exact through both (out-of-gamut colours are desaturated, not
  clipped), so their gray version has the histogram a gray crop has.

The distributions (renderer version 2) were tuned against 400 of the 600 real MPIIGaze patches
in ``../shared/data`` with :mod:`gazebench.realism` and checked on the other 200
(``docs/renderer.md``). ``severity`` scales every degradation (0: clean camera, 1: the default,
2: harsh).
"""

from __future__ import annotations

import math
from typing import Collection, Sequence

import torch
import torch.nn.functional as F

from . import rng
from .latents import WILD_SLOT, Latents
from .render import Light

_N_WILD = 34
#: ranges (low, high) of the wild style at severity 1, uniform in the sample's draw
WILD: dict[str, tuple[float, float]] = {
    "elevation_deg": (49.427, 85.0),  # the light's angle off the camera axis
    "ambient": (0.04628, 0.2314),
    "diffuse": (0.78572, 1.63188),
    "wrap": (0.0, 0.0),              # skin wrap lighting (render.Light.wrap)
    "iris_gain": (0.23215, 0.390012),
    "sclera_gain": (0.2434, 0.4868),
    "orbit_shade": (0.335755, 0.76744),
    "orbit_reach": (4.0, 4.0),       # mm
    "eye_direct": (1.0, 1.0),        # render.Light.eye_direct
    "eye_fill": (0.28395, 0.66255),  # render.Light.eye_fill (0: version 2, none)
    "screen_glint": (0.0, 0.0),      # render.Light.screen_glint (0: version 2, none)
    "read_noise": (1.043511, 2.782696),  # levels, before the blur
    "shot_noise": (0.028653, 0.114612),
    "grain": (0.85, 2.125),           # levels, after the blur
    "blur_px": (0.7919568, 1.38132),  # sigma at 60 px wide
    "black": (0.0, 0.0),             # the sensor's black level, levels subtracted before the clip
    # the light's azimuth in the image plane (0: from the image's right, 90: from below, 270:
    # from above, as the glint and the sclera show: tested; the light's y, like the image's rows,
    # points down), uniform in this range before the pull towards the sides below
    "azimuth_deg": (0.0, 360.0),
    "side_pull": (0.3, 0.3),         # how strongly the azimuth is pulled towards the sides (0: not)
}


#: the camera's tone at severity 1 (issue 18, round 6; version 3's values, version 2's in versions.py): mean and
#: spread (std of the normal draw) of the log exposure gain, the colour cast's and the gamma's
#: log spread, and the largest contrast loss. ``noise_dark`` (0: version 2, noise independent of
#: the level) scales the sensor noise and grain by ((level + 16) / 144) ** -noise_dark, as noise
#: drawn in linear light and gamma-encoded is: weaker in bright skin, stronger in dark regions
#: ``sharpen`` (0: version 2, none) is a webcam ISP's cored unsharp mask after the blur: the detail
#: ``img - blur(img, sharpen_sigma px at 60 px wide)`` less ``coring`` levels (noise below it is
#: left alone) is added back ``sharpen`` times, so edges get crisper while the skin's noise does not
#: ``auto_exposure`` (0: version 2, none; issue 18, round 11) meters each clean render's mean level and
#: moves the log exposure that fraction of the way to ``ae_target`` (display level), at most
#: ``ae_limit`` in log gain either way: a webcam's auto-exposure. Without it, a render lit from
#: behind records a face 8-40 levels wide whose noise the histogram equalisation then blows up
#: (version 2: 5-12% of renders; per-crop Laplacian up to 180, the real patches' largest is 46;
#: results/realism/sharpness_tail.py)
#: ``noise_contrast`` (0: version 3, off; issue 18, round 14) scales the sensor noise and grain by
#: (the recorded image's level spread / ``noise_ref`` levels) ** noise_contrast: a webcam's gain
#: amplifies a dim, flat scene's noise with it. Meant for version 3's equalised crops, which range from
#: far smoother to far noisier than any real one (the recorded contrast decides: Spearman -0.72 with
#: the per-crop Laplacian); at 1.0 it trims only the noisy end and costs the convnet (docs/renderer.md,
#: round 14)
TONE: dict[str, float] = {"exposure": 0.3364, "exposure_sd": 0.115035, "cast_sd": 0.07, "gamma_sd": 0.35021,
                          "contrast": 0.0, "noise_dark": 0.0, "sharpen": 0.0, "sharpen_sigma": 1.0,
                          "coring": 3.0, "auto_exposure": 0.0, "ae_target": 0.18, "ae_limit": 2.0,
                          "noise_contrast": 0.0, "noise_ref": 40.0}


def _noise_level(img: torch.Tensor) -> torch.Tensor | float:
    """The noise's factor by level (:data:`TONE` ``noise_dark``; 1 when off)."""
    e = TONE["noise_dark"]
    return 1.0 if e == 0 else ((img.clamp(0, 255) + 16) / 144) ** -e


def _noise_spread(img: torch.Tensor) -> torch.Tensor | float:
    """The noise's factor by each crop's recorded level spread (:data:`TONE` ``noise_contrast``; 1 when off)."""
    e = TONE["noise_contrast"]
    if e == 0:
        return 1.0
    return ((img.std((1, 2, 3)) / TONE["noise_ref"]).clamp(0.05, 20) ** e).view(-1, 1, 1, 1)


def _w(u: torch.Tensor, name: str) -> torch.Tensor:
    lo, hi = WILD[name]
    return lo + (hi - lo) * u
#: the effect families of ``synth-wild`` (``-o synth-wild.effects=light,blur``): the outdoor light
#: (rendered), glare/glasses, tone (exposure, colour cast, gamma, contrast), sensor noise, blur,
#: JPEG, MPIIGaze's histogram equalisation
EFFECTS = ("light", "glare", "tone", "noise", "blur", "jpeg", "equalize")
_LUMA = torch.tensor([0.299, 0.587, 0.114])
# JPEG (ITU T.81 Annex K) luminance and chrominance quantisation tables
_Q_LUMA = torch.tensor([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=torch.float32).view(8, 8)
_Q_CHROMA = torch.full((8, 8), 99.0)
_Q_CHROMA[:4, :4] = torch.tensor([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]],
                                 dtype=torch.float32)


def _dct_matrix() -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64).view(8, 1)
    i = torch.arange(8, dtype=torch.float64).view(1, 8)
    d = torch.cos((2 * i + 1) * k * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d.float()


_DCT2 = torch.kron(_dct_matrix(), _dct_matrix())      # (64, 64): D (x) D acts on row-major blocks


def wild_uniforms(lat: Latents) -> torch.Tensor:
    """float64 (N, ``_N_WILD``) uniforms that drive every wild degradation of each sample."""
    return rng.uniform(lat.keys, _N_WILD, offset=WILD_SLOT)


def light_azimuth(u: torch.Tensor) -> torch.Tensor:
    """The light's azimuth in the image plane (radians, (N,)) from a sample's wild uniforms: uniform in
    ``WILD["azimuth_deg"]``, then pulled towards the sides by ``side_pull`` (a monotonic map)."""
    if WILD["azimuth_deg"] == (0.0, 360.0) and WILD["side_pull"] == (0.5, 0.5):
        az = u[:, 0] * 2 * math.pi           # version 2's exact arithmetic (its bytes are pinned)
        return az - 0.5 * torch.sin(2 * az) / 2
    az = torch.deg2rad(_w(u[:, 0], "azimuth_deg"))
    return az - _w(u[:, 33], "side_pull") * torch.sin(2 * az) / 2


def wild_light(lat: Latents, u: torch.Tensor, severity: float = 1.0) -> Light:
    """Outdoor light: directional from a random side, low ambient, sometimes a hard shadow."""
    s = float(severity)
    az = light_azimuth(u)
    el = torch.deg2rad(10 + (_w(u[:, 1], "elevation_deg") - 10) * min(s, 1.5))   # off the camera axis
    d = torch.stack([az.cos() * el.sin(), az.sin() * el.sin(), -el.cos()], 1)
    ambient = 0.6 - (0.6 - _w(u[:, 2], "ambient")) * min(s, 1.0)
    diffuse = 0.45 + (_w(u[:, 3], "diffuse") - 0.45) * s
    shadow = torch.where(u[:, 4] < 0.02 * min(s, 1.5), (0.35 + 0.45 * u[:, 5]) * min(s, 1.2), 0.0)
    iris_gain = 1 - (1 - _w(u[:, 27], "iris_gain")) * min(s, 1.0)
    sclera_gain = 1 - (1 - _w(u[:, 28], "sclera_gain")) * min(s, 1.0)
    return Light(ambient=ambient, diffuse=diffuse, direction=d, shadow=shadow,
                 shadow_angle=u[:, 6] * 2 * math.pi, shadow_offset=(u[:, 7] - 0.5) * 20,
                 glint=0.5 + 0.9 * u[:, 8], iris_gain=iris_gain, sclera_gain=sclera_gain,
                 orbit_shade=0.3 + (_w(u[:, 30], "orbit_shade") - 0.3) * min(s, 1.0),
                 # the reach shares the orbit depth's draw (a deeper-set eye shades further) and the
                 # eyeball's direct light the glint's (more light on the eye, a brighter glint)
                 wrap=_w(u[:, 31], "wrap") * min(s, 1.0), orbit_reach=_w(u[:, 30], "orbit_reach"),
                 eye_direct=1 - (1 - _w(u[:, 8], "eye_direct")) * min(s, 1.0),
                 # the fill shares the glint's draw too: a brighter screen, a brighter reflection
                 eye_fill=_w(u[:, 8], "eye_fill") * min(s, 1.0),
                 screen_glint=_w(u[:, 8], "screen_glint") * min(s, 1.0))


def _per_sample_blur(img: torch.Tensor, sigma_px: torch.Tensor, rad: int) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per sample (grouped convolution).

    ``rad`` must not depend on the batch (a kernel truncated differently would change the bytes
    of a sample with its batch-mates): callers derive it from the largest possible sigma.
    """
    n, c, h, w = img.shape
    t = torch.arange(-rad, rad + 1, dtype=torch.float32).view(1, -1)
    k = torch.exp(-(t * t) / (2 * sigma_px.float().clamp(min=1e-3).view(-1, 1) ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)     # (N*C, K)
    x = F.pad(img.reshape(1, n * c, h, w), (rad, rad, rad, rad), mode="replicate")
    x = F.conv2d(x, k.view(n * c, 1, 1, -1), groups=n * c)
    x = F.conv2d(x, k.view(n * c, 1, -1, 1), groups=n * c)
    return x.view(n, c, h, w)


def equalize(img: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each image's luma, as OpenCV's ``equalizeHist`` (MPIIGaze's).

    ``img``: float (N, C, H, W) of integer values in [0, 255]. RGB keeps its chroma ratios.
    """
    from gazebench.imaging import equalize as _equalize

    return _equalize(img, "opencv")


def equalize_luma(img: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each image's luma that keeps the equalised luma exactly.

    :func:`equalize` scales RGB by the luma ratio and clips each channel, so a bright coloured
    pixel loses luma: the top of the gray histogram empties (gray MPIIGaze crops are equalised
    as gray and fill it). Here a pixel that would clip is desaturated towards its equalised luma
    instead, just enough to fit in [0, 255]. Gray images are as :func:`equalize`.
    """
    from gazebench.imaging import equalize as _equalize

    if img.shape[1] == 1:
        return _equalize(img, "opencv")
    y = torch.einsum("nchw,c->nhw", img, _LUMA).unsqueeze(1)
    y_eq = _equalize(y.round().clamp(0, 255), "opencv")
    return _fit_gamut(y_eq, img * (y_eq / y.clamp(min=0.5))).round().clamp(0, 255)


def _jpeg_plane(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """One plane (N, H, W) through 8x8 DCT quantisation with tables ``q`` (N, 8, 8)."""
    n, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    x = F.pad(x.unsqueeze(1), (0, pw, 0, ph), mode="replicate")[:, 0] - 128
    hb, wb = x.shape[1] // 8, x.shape[2] // 8
    blocks = x.view(n, hb, 8, wb, 8).permute(0, 1, 3, 2, 4).reshape(n, hb * wb, 64)
    # the 2-D DCT of a flattened block is one 64x64 matrix: a single large matmul
    coef = blocks @ _DCT2.T
    qq = q.reshape(n, 1, 64)
    coef = torch.round(coef / qq) * qq
    out = (coef @ _DCT2).view(n, hb, wb, 8, 8).permute(0, 1, 3, 2, 4).reshape(n, hb * 8, wb * 8) + 128
    return out[:, :h, :w]


def jpeg(img: torch.Tensor, quality: torch.Tensor, keep_luma: bool = False) -> torch.Tensor:
    """JPEG-compress and decode (baseline, 4:2:0 chroma) a float (N, C, H, W) image in [0, 255].

    Entropy coding is lossless, so DCT quantisation at the IJG-scaled tables of ``quality``
    (N,) in [1, 100] reproduces JPEG's artefacts up to rounding. ``keep_luma``: decoded colours
    outside [0, 255] are desaturated instead of clipped per channel, so the decoded luma is the
    quantised luma (a per-channel clip darkens bright coloured pixels: their gray version then
    lacks the top of the histogram that gray crops have).
    """
    n, c, h, w = img.shape
    qf = quality.float().clamp(1, 100).view(n, 1, 1)
    scale = torch.where(qf < 50, 5000 / qf, 200 - 2 * qf)
    ql = ((_Q_LUMA * scale + 50) / 100).floor().clamp(1, 255)
    if c == 1:
        return _jpeg_plane(img[:, 0], ql).round().clamp(0, 255).unsqueeze(1)
    qc = ((_Q_CHROMA * scale + 50) / 100).floor().clamp(1, 255)
    r, g, b = img[:, 0], img[:, 1], img[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    y = _jpeg_plane(y, ql)
    chroma = F.avg_pool2d(torch.stack([cb, cr], 1), 2, ceil_mode=True)
    chroma = torch.stack([_jpeg_plane(chroma[:, 0], qc), _jpeg_plane(chroma[:, 1], qc)], 1)
    chroma = F.interpolate(chroma, scale_factor=2, mode="nearest")[..., :h, :w]
    cb, cr = chroma[:, 0] - 128, chroma[:, 1] - 128
    out = torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)
    if keep_luma:
        out = _fit_gamut(y.unsqueeze(1).clamp(0, 255), out)
    return out.round().clamp(0, 255)


def _fit_gamut(y: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """Desaturate each pixel of ``rgb`` towards its luma ``y`` (N, 1, H, W) just enough to fit
    [0, 255], so the luma survives where a per-channel clip would lower it."""
    dev = rgb - y
    room = torch.where(dev > 0, (255 - y) / dev.clamp(min=1e-6), y / (-dev).clamp(min=1e-6))
    return y + room.amin(1, keepdim=True).clamp(0, 1) * dev


def parse_effects(effects: str | Sequence[str] | None) -> frozenset[str]:
    """``"all"`` / ``None`` -> every family; ``""`` / ``"none"`` -> none; ``"light,blur"`` or a list
    -> those families (checked against :data:`EFFECTS`)."""
    if effects is None or (isinstance(effects, str) and effects.strip().lower() == "all"):
        return frozenset(EFFECTS)
    items = effects.split(",") if isinstance(effects, str) else list(effects)
    names = {str(e).strip().lower() for e in items} - {"", "none"}
    bad = sorted(names - set(EFFECTS))
    if bad:
        raise ValueError(f"unknown wild effect(s) {', '.join(bad)}: choose from {', '.join(EFFECTS)}, "
                         "'all' or 'none'")
    return frozenset(names)


def degrade(image: torch.Tensor, lat: Latents, u: torch.Tensor, ppm: torch.Tensor, *,
            severity: float = 1.0, channels: int = 3, equalize_hist: bool = True,
            effects: Collection[str] = EFFECTS) -> torch.Tensor:
    """Turn a rendered float RGB image (N, 3, H, W) of display values into a wild uint8 crop.

    Args:
        image: the renderer's output under :func:`wild_light`.
        lat: the latents (for the sample keys of the noise).
        u: :func:`wild_uniforms` of ``lat``.
        ppm: pixels per millimetre of each sample (glare and glasses are sized in mm).
        severity: scales every degradation.
        channels: 3 (RGB) or 1 (gray, BT.601 luma).
        equalize_hist: MPIIGaze's histogram equalisation of the crop.
        effects: the families applied (:data:`EFFECTS`; ``light`` is the renderer's, see
            :func:`wild_light`). Each family draws from its own uniforms, so switching one off
            leaves the others' draws unchanged; with none, the image is the clean render.
    """
    n, _, h, w = image.shape
    s = float(severity)
    uf = u.float()
    z = rng.normal_from_uniform(u[:, 9:14]).float().clamp(-2.5, 2.5)
    img = image
    # glare or glasses: a bright soft reflection band, sometimes the frame's dark edge
    yy = (torch.arange(h, dtype=torch.float32).view(1, h, 1) - (h - 1) / 2) / ppm.view(n, 1, 1)
    xx = (torch.arange(w, dtype=torch.float32).view(1, 1, w) - (w - 1) / 2) / ppm.view(n, 1, 1)
    on = (lambda fam: 1.0 if fam in effects else 0.0)
    glare_on = (uf[:, 14] < 0.05 * min(s, 2.0)).float().view(n, 1, 1) * on("glare")
    ang = uf[:, 15].view(n, 1, 1) * math.pi
    band = (xx * ang.cos() + yy * ang.sin() - (uf[:, 16].view(n, 1, 1) - 0.5) * 16) / (2 + 5 * uf[:, 17].view(n, 1, 1))
    img = img + (glare_on * (0.1 + 0.35 * uf[:, 18].view(n, 1, 1)) * torch.exp(-band * band)).unsqueeze(1)
    frame_on = (uf[:, 19] < 0.03 * min(s, 2.0)).float().view(n, 1, 1) * on("glare")
    fy = torch.where(uf[:, 20] < 0.5, -11.0 - uf[:, 21] * 1.5, 9.5 + uf[:, 21] * 1.5).view(n, 1, 1)
    frame = frame_on * 0.65 * torch.exp(-(((yy - fy - 0.01 * xx * xx) / 0.9) ** 2))
    img = img * (1 - frame).unsqueeze(1)
    # camera: exposure, colour cast, gamma, contrast (in display space, before the sensor clips)
    if "tone" in effects:
        t = TONE
        log_gain = t["exposure"] * min(s, 1.0) + t["exposure_sd"] * s * z[:, 0]
        gamma = torch.exp(t["gamma_sd"] * s * z[:, 4]).view(n, 1, 1, 1)
        if t["auto_exposure"] > 0:
            # the camera meters what it records, after its tone curve: the gain that brings the
            # mean level to ae_target once raised to this sample's gamma
            level = img.mean((1, 2, 3)).clamp(min=1e-4)
            meter = (math.log(t["ae_target"]) / gamma.view(n) - level.log()).clamp(-t["ae_limit"], t["ae_limit"])
            log_gain = log_gain + t["auto_exposure"] * min(s, 1.0) * meter
        gain = torch.exp(log_gain).view(n, 1, 1, 1)
        cast = torch.exp(t["cast_sd"] * s * z[:, 1:4]).view(n, 3, 1, 1)
        img = (img * gain * cast).clamp(0, 1)
        img = img.clamp(min=1e-4) ** gamma
        contrast = (1 - t["contrast"] * min(s, 1.6) * uf[:, 22] ** 1.5).view(n, 1, 1, 1)
        mean = img.mean((1, 2, 3), keepdim=True)
        img = (mean + contrast * (img - mean)) * 255
    else:
        img = img.clamp(0, 1) * 255
    if channels == 1:
        img = torch.einsum("nchw,c->nhw", img, _LUMA).unsqueeze(1)
    # sensor: shot + read noise at capture; the normalising warp to the crop then low-passes it
    # (modelled as the blur), so noise is drawn before the blur, as a real pipeline does
    spread = _noise_spread(img)
    read = (_w(uf[:, 24], "read_noise") * s).view(n, 1, 1, 1) * spread
    shot = (_w(uf[:, 25], "shot_noise") * s).view(n, 1, 1, 1) * spread
    if "noise" in effects:
        noise = rng.pixel_normal(lat.keys, tuple(img.shape[1:]), salt=WILD_SLOT + 1)
        img = img + noise * torch.sqrt(read * read + shot * shot * img.clamp(min=0)) * _noise_level(img)
    sigma_max = WILD["blur_px"][1] * min(s, 2.0) * (w / 60)
    sigma = _w(uf[:, 23], "blur_px") * min(s, 2.0) * (w / 60)
    if sigma_max > 0.05 and "blur" in effects:
        img = _per_sample_blur(img, sigma.clamp(min=1e-3), max(1, math.ceil(3 * sigma_max)))
    if TONE["sharpen"] > 0 and "blur" in effects:
        sig_s = TONE["sharpen_sigma"] * (w / 60)
        detail = img - _per_sample_blur(img, torch.full((n,), sig_s), max(1, math.ceil(3 * sig_s)))
        detail = detail.sign() * (detail.abs() - TONE["coring"]).clamp(min=0)
        img = img + TONE["sharpen"] * detail
    if "noise" in effects:
        # noise after the warp's low-pass: the sensor's own grain at the crop's scale
        fine = (_w(uf[:, 29], "grain") * s).view(n, 1, 1, 1) * spread
        img = img + fine * rng.pixel_normal(lat.keys, tuple(img.shape[1:]), salt=WILD_SLOT + 2) * _noise_level(img)
    if "noise" in effects and WILD["black"][1] > 0:
        # the camera subtracts its black level and clips: the darkest noise piles up at 0
        black = (_w(uf[:, 32], "black") * s).view(n, 1, 1, 1)
        img = (img - black) * (255 / (255 - black))
    img = img.round().clamp(0, 255)
    if equalize_hist and "equalize" in effects:
        img = equalize_luma(img)
    quality = 95 - (17 + 6 * uf[:, 26]) * min(s, 1.2)
    return (jpeg(img, quality, keep_luma=True) if "jpeg" in effects else img).to(torch.uint8)
