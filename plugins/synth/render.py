"""The procedural eye: geometry, appearance and labels of a batch of latent eyes, in torch.

Model (millimetres, MPIIGaze's normalised camera frame, orthographic projection):

- The eyeball is a sphere of radius ``R`` centred on the crop (plus a small jitter). The iris and
  the pupil are flat discs perpendicular to the gaze ``g`` at depth ``d = sqrt(R^2 - r_iris^2)``
  from the centre, so both project to ellipses centred at ``d * (g_x, g_y)``: that point is the
  reported pupil centre, exactly.
- Eyelids, corners, caruncle, crease, lashes and brow belong to the head: they are drawn in head
  coordinates (shifted and foreshortened by the head pose) and the upper lid rides on the top of
  the iris, so it follows the eye-in-head pitch (it drops when looking down).
- Shading: Lambert on the eyeball sphere and on a smooth skin height field, an optional hard cast
  shadow, a corneal glint where the light's reflection on a 7.8 mm cornea falls.
- Everything is drawn with analytic anti-aliasing (coverage from signed distances in pixels) and
  band-limited textures, so a sample looks the same at 36x60 and at 512x512.

Speed matters (10,000 crops in seconds on 2 cores): most maps are separable, computed on
``(N, 1, W)`` and ``(N, H, 1)`` and combined once; textures made of sinusoids are batched matmuls.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import torch

from . import rng
from .latents import GEOMETRY, Latents

#: the counter-based stream of the skin folds' per-sample draws (issue 18, round 15)
_FOLD_SALT = 0x5F01D

#: horizontal field of view of a crop at scale 1, mm (the fissure, ~29 mm, spans ~78% of it)
FOV_MM = 37.0
_CORNEA_R = 7.8      # corneal radius of curvature, mm
_CORNEA_D = 5.3      # eyeball centre to corneal centre along the gaze, mm
_FACE_DEPTH = 6.0    # lids and skin sit this far in front of the eyeball centre, mm
_PUPIL_RGB = (0.035, 0.03, 0.03)
_CARUNCLE_RGB = (0.80, 0.45, 0.45)
#: skin detail: the upper-lid crease's line width (mm) and how far past the corners it runs (in
#: half-widths of the fissure), the lower lid's fold (darkness relative to the crease; 0: none)
#: and the amplitude of the skin's albedo texture
CREASE = {"width": 0.6, "extent": 1.6, "lower": 0.0, "texture": 0.066116,
          # issue 18, round 15 (off at 0, version 3's bytes): fine skin folds, real crops' wrinkles.
          # ``folds_upper`` / ``folds_lower``: the darkness of up to ``folds_n`` thin lines (relative to
          # the crease's) drawn parallel to the crease above it and to the lower margin below it,
          # ``folds_spacing`` mm apart (a range; each line its own draw), ``folds_width`` mm wide
          "folds_upper": 0.0, "folds_lower": 0.0, "folds_n": 3, "folds_spacing": (0.8, 2.0),
          "folds_width": 0.35}
#: the brow bone (issue 18, round 5; off at gain 0, version 2's bytes): the skin above
#: ``latents.GEOMETRY["brow_bone_y"]`` is a convex ridge, so some of it faces the light from any
#: direction and it stands out of the orbit's shade. Its shading is pulled (by ``gain``, 0..1)
#: towards ``ambient + diffuse * facing``; ``soft`` (mm) is the width of the ridge's lower edge,
#: ``half_width`` (mm) how far it runs to the sides.
#: ``follow`` (round 6; 0 keeps round 5's target) mixes that target with a level that follows
#: the rest of the skin instead: the ``quantile`` (0..1) of the image's own skin shading outside
#: the eye opening, so the ridge is as bright as that share of the skin under any light.
BROW_BONE = {"gain": 0.6, "facing": 0.8, "soft": 1.0, "half_width": 20.0, "follow": 1.0, "quantile": 0.5}
#: the cheek (issue 18, round 6; off at gain 0, version 2's bytes): real crops' bottom rows are
#: the brightest part of the crop. Below ``y`` mm under the eyeball centre (head frame, a soft
#: edge of ``soft`` mm) the skin's shading is pulled (by ``gain``, 0..1) towards the
#: ``quantile`` of the image's own skin shading outside the eye opening, as the brow bone's
#: ``follow`` level.
CHEEK = {"gain": 0.0, "y": 7.5, "soft": 1.0, "quantile": 0.9}
#: the upper lid's skin (issue 18, round 10; off at gain 0, version 2's bytes): between the lid
#: margin and the crease the lid is convex and stands out of the orbit, so real crops show it as
#: a bright band over the lash line under any light. Its shading is pulled (by ``gain``) towards
#: the ``quantile`` of the image's own skin shading; ``lower`` does the same for a rim of
#: ``lower_width`` mm under the lower margin.
#: ``bulge`` (mm; 0 none) gives the lid between margin and crease a convex relief, lit by the
#: light like the rest of the skin, so it follows the lid's curve; ``hollow`` scales the
#: horizontal hollow under the brow of the skin's height field (1: version 2's).
#: ``sulcus`` (mm deep; 0 none) draws that hollow instead along the crease's curve, ``sulcus_gap`` mm
#: above the crease, ``sulcus_width`` mm wide (sd).
LID = {"gain": 0.0, "quantile": 0.8, "lower": 0.0, "lower_width": 1.2, "bulge": 0.0, "hollow": 0.0,
       "sulcus": 1.5, "sulcus_gap": 2.0, "sulcus_width": 3.0}
#: the eyeball in the orbit (issue 18, round 17; both off at 0, version 3's bytes). Real crops' brightest
#: pixels are skin (the cheek, the top rows), their sclera grey; version 3's sclera is the crop's brightest
#: part in most renders, because the eyeball takes the direct light and the fill in full while the skin
#: around the opening is in the orbit's ambient occlusion (``Light.orbit_shade``).
#: ``orbit`` (0..1): that share of the occlusion the skin has at the lid margin darkens the eyeball too
#: (it sits deeper in the orbit than the margin). ``cap`` (> 0): the eyeball's recorded luma is held
#: below ``cap`` times the ``cap_quantile`` of the skin's recorded luma outside the opening (shading,
#: texture, crease, brow hair and lashes, times the skin's albedo), so the sclera is never brighter than
#: that much of the skin under any light.
EYE = {"orbit": 0.0, "cap": 0.0, "cap_quantile": 0.9}


def _skin_level(shade: torch.Tensor, inside_d: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q`` quantile of each image's skin shading outside the eye opening: (N, 1, 1)."""
    n = shade.shape[0]
    v = torch.where(inside_d < 0, shade, torch.full_like(shade, float("nan"))).reshape(n, -1)
    return torch.nanquantile(v, float(q), dim=1).view(n, 1, 1)


@dataclass
class Light:
    """Per-sample lighting: tensors of shape (N,) unless noted."""

    ambient: torch.Tensor
    diffuse: torch.Tensor
    direction: torch.Tensor      # (N, 3) unit vector towards the light (camera frame)
    shadow: torch.Tensor         # strength of a hard cast shadow, 0 = none
    shadow_angle: torch.Tensor   # orientation of the shadow's edge, radians
    shadow_offset: torch.Tensor  # signed distance of the edge from the eye centre, mm
    glint: torch.Tensor          # brightness of the corneal reflection
    #: albedo factors of the iris and the sclera as a camera records them (None: 1); the wild
    #: style's webcam exposes for the skin, so irises read near black and the sclera greyer
    iris_gain: torch.Tensor | None = None
    sclera_gain: torch.Tensor | None = None
    #: depth of the ambient occlusion of the orbit around the eye opening (None: 0.3); a deep-set
    #: eye under a side light darkens the skin next to the opening more than the crop's border
    orbit_shade: torch.Tensor | None = None
    #: wrap lighting of the skin (None: 0, Lambert): light scattered under the skin carries past
    #: the terminator, so a side light shades skin in a gradient, not a hard dark half
    wrap: torch.Tensor | None = None
    #: share of the direct light that reaches the eyeball (None: 1): it sits recessed in the
    #: orbit, so a light from the side is partly cut off by the lids, brow and nose
    eye_direct: torch.Tensor | None = None
    #: how far (mm) the orbit's ambient occlusion reaches out from the opening (None: 3)
    orbit_reach: torch.Tensor | None = None
    #: a frontal fill on the eyeball only (None: 0): the screen a laptop user looks at lights the
    #: eye from the camera's side whatever the room light does, so the sclera reads on both sides
    #: of the iris instead of half white, half as dark as the iris (issue 18, round 8)
    eye_fill: torch.Tensor | None = None
    #: brightness of a second corneal glint, the screen's (None: none): a light on the camera's
    #: axis reflects near the pupil's centre, where nearly every real crop has its glint (round 8)
    screen_glint: torch.Tensor | None = None


def clean_light(lat: Latents) -> Light:
    """Even, soft indoor light from slightly above: the ``synth`` style."""
    n = len(lat)
    level = lat.light[:, 0]
    d = torch.stack([lat.light[:, 1], lat.light[:, 2], -torch.ones(n, dtype=torch.float64)], 1)
    zeros = torch.zeros(n, dtype=torch.float64)
    return Light(ambient=0.60 * level, diffuse=0.45 * level, direction=d / d.norm(dim=1, keepdim=True),
                 shadow=zeros, shadow_angle=zeros, shadow_offset=zeros, glint=0.9 * level)


@dataclass
class Rendered:
    """The output of :func:`render`."""

    image: torch.Tensor          # float32 (N, 3, H, W), display values, ~[0, 1] (not clipped)
    masks: torch.Tensor          # uint8 (N, H, W): 0 skin, 1 sclera, 2 iris, 3 pupil
    pupil: torch.Tensor          # float32 (N, 2): pupil centre (x, y), pixels
    corners: torch.Tensor        # float32 (N, 2, 2): (nasal, temporal) corner (x, y), pixels
    pupil_visible: torch.Tensor  # float32 (N,): share of the pupil disc not under an eyelid
    ppm: torch.Tensor            # float32 (N,): pixels per millimetre


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Render on one intra-op thread, restoring the caller's setting afterwards.

    Rendering is hundreds of small memory-bound elementwise ops per chunk. On a quiet machine a
    second thread could gain up to 2x on them (not measured: none was quiet); on a busy one
    (2 cores shared by several jobs) OpenMP threads waiting on each other made it about 20x
    slower (2000 crops at 36x60: 1.0 s on 1 thread, 21 s on 2). Predictable beats best-case.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _v(t: torch.Tensor) -> torch.Tensor:
    """(N,) -> float32 (N, 1, 1)."""
    return t.float().view(-1, 1, 1)


def _coverage(dist_px: torch.Tensor) -> torch.Tensor:
    """Pixel coverage from a signed distance (positive inside), one-pixel box filter."""
    return (dist_px + 0.5).clamp_(0.0, 1.0)


def _band(ppm: torch.Tensor, cycles_per_mm: torch.Tensor) -> torch.Tensor:
    """Weight of a sinusoid by its wavelength in pixels: 1 from 4 px up, 0 at 2 px and below."""
    return (ppm / cycles_per_mm / 2.0 - 1.0).clamp(0.0, 1.0)


def _waves(x: torch.Tensor, y: torch.Tensor, waves: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum_k weight_k cos(2 pi f_k (x cos a_k + y sin a_k) + phi_k) as a batched matmul.

    ``x``: (N, 1, W), ``y``: (N, H, 1), ``waves``: (N, K, 3) (angle, frequency, phase),
    ``weight``: (N, K). Returns (N, H, W). cos(A + B) = cos A cos B - sin A sin B with A from x
    and B from y makes it separable.
    """
    ang, freq, phase = (waves[..., i].float() for i in range(3))
    w = 2 * math.pi * freq
    a = (w * ang.cos()).unsqueeze(-1) * x[:, 0, :].unsqueeze(1) + phase.unsqueeze(-1)   # (N, K, W)
    b = (w * ang.sin()).unsqueeze(-1) * y[:, :, 0].unsqueeze(1)                          # (N, K, H)
    wt = weight.float().unsqueeze(-1)
    ca, sa = a.cos() * wt, a.sin() * wt
    return torch.bmm(b.cos().transpose(1, 2), ca) - torch.bmm(b.sin().transpose(1, 2), sa)


def _skin_normal_dot(xh: torch.Tensor, yh: torch.Tensor, brow_y: torch.Tensor, L: torch.Tensor,
                     hollow: float = 1.0) -> torch.Tensor:
    """Lambert term of the skin height field (bulge over the eye, brow ridge, hollow under it).

    Each bump is a separable Gaussian, so the slope terms (and the dot product with the light,
    to first order in the slopes) are sums of products of x-maps and y-maps: a batched matmul.
    Returns (N, H, W), not yet clamped.
    """
    n = xh.shape[0]
    x, y = xh[:, 0, :], yh[:, :, 0]                                   # (N, W), (N, H)
    # (x0, sx, y0, sy, amplitude mm)
    bumps = ((0.0, 12.0, 0.5, 7.0, 3.0), (0.0, 25.0, None, 4.0, 4.0), (0.0, 13.0, -7.0, 3.0, -2.0 * hollow))
    lx, ly, lz = L[:, 0:1], L[:, 1:2], L[:, 2:3]
    xs, ys = [], []
    for x0, sx, y0, sy, amp in bumps:
        y0t = -(brow_y.view(n, 1) + 1.0) if y0 is None else y0
        gx = amp * torch.exp(-((x - x0) ** 2) / (2 * sx * sx))
        gy = torch.exp(-((y - y0t) ** 2) / (2 * sy * sy))
        # n.L ~ -lz - h_x lx - h_y ly, h_x = g * (-(x - x0) / sx^2), h_y likewise
        xs += [gx * (x - x0) / (sx * sx) * lx, gx]
        ys += [gy, gy * (y - y0t) / (sy * sy) * ly]
    return torch.bmm(torch.stack(ys, 2), torch.stack(xs, 1)).sub_(lz.view(n, 1, 1))


class _Window:
    """A per-sample square window of pixels around a point; maps computed in it are pasted back.

    The iris, the pupil and the glint cover a small part of the crop, so their (costly) maps
    are computed on ``(N, k, k)`` windows instead of ``(N, H, W)``.
    """

    def __init__(self, centre_px: torch.Tensor, k: int, h: int, w: int) -> None:
        n = centre_px.shape[0]
        self.k, self.h, self.w = k, h, w
        x0 = torch.round(centre_px[:, 0]).long() - k // 2
        y0 = torch.round(centre_px[:, 1]).long() - k // 2
        ar = torch.arange(k)
        self.xs = x0.view(n, 1) + ar                                  # (N, k) pixel columns
        self.ys = y0.view(n, 1) + ar                                  # (N, k) pixel rows
        self.valid = (((self.ys >= 0) & (self.ys < h)).view(n, k, 1)
                      & ((self.xs >= 0) & (self.xs < w)).view(n, 1, k))
        flat = (torch.arange(n).view(n, 1, 1) * (h * w) + self.ys.clamp(0, h - 1).view(n, k, 1) * w
                + self.xs.clamp(0, w - 1).view(n, 1, k))
        self.flat = flat[self.valid]

    def gather(self, full: torch.Tensor) -> torch.Tensor:
        """(N, H, W) -> (N, k, k) (positions outside the image read their nearest edge pixel)."""
        n = full.shape[0]
        flat = (torch.arange(n).view(n, 1, 1) * (self.h * self.w) + self.ys.clamp(0, self.h - 1).view(n, -1, 1)
                * self.w + self.xs.clamp(0, self.w - 1).view(n, 1, -1))
        return full.reshape(-1)[flat]

    def paste(self, win: torch.Tensor) -> torch.Tensor:
        """(N, k, k) -> (N, H, W), zero outside the window."""
        n = win.shape[0]
        full = torch.zeros(n * self.h * self.w, dtype=win.dtype)
        full[self.flat] = win[self.valid]
        return full.view(n, self.h, self.w)


def render(lat: Latents, size: tuple[int, int], light: Light | None = None) -> Rendered:
    """Render latent eyes at ``size`` (H, W) under ``light`` (default :func:`clean_light`)."""
    with single_thread():
        return _render(lat, size, light or clean_light(lat))


def _folds(lat: Latents, s: torch.Tensor, Yh: torch.Tensor, y_cr: torch.Tensor, yl: torch.Tensor,
           ppm_y: torch.Tensor) -> torch.Tensor:
    """The skin folds' albedo factor (N, H, W): thin dark lines parallel to the crease and the lower margin.

    Each sample draws, per line, its spacing, darkness (0-1 of the setting) and extent (in half-widths of
    the fissure) from its own key, so a sample's folds never depend on the batch.
    """
    n, k = len(lat), int(CREASE["folds_n"])
    u = rng.uniform(rng.combine(lat.keys, _FOLD_SALT), 6 * k).float().view(n, 6, k)
    lo, hi = CREASE["folds_spacing"]
    width = (CREASE["folds_width"] * ppm_y).clamp(min=0.8) / ppm_y   # anti-aliased below a pixel
    factor = torch.ones(())
    dark = _v(lat.crease_dark)
    # the upper folds run parallel to the crease (-1: above it); the lower ones sag below the margin
    # with its curve, their spacing shrinking towards the corners
    sag = (1 - (s / 1.05) ** 2).clamp(min=0)
    for side, step, y0, key0 in (("folds_upper", -1.0, y_cr, 0), ("folds_lower", sag, yl, 3)):
        if CREASE[side] <= 0:
            continue
        offset = torch.zeros(n, 1, 1)
        for j in range(k):
            offset = offset + _v(lo + (hi - lo) * u[:, key0, j])
            extent = _v(0.6 + 0.5 * u[:, key0 + 1, j])
            strength = _v(u[:, key0 + 2, j]) * CREASE[side] * dark
            y_j = y0 + step * offset
            line = torch.exp(-(((Yh - y_j) / width) ** 2)) * (1 - (s / extent) ** 2).clamp(min=0)
            factor = factor * (1 - line * strength)
    return factor


def _render(lat: Latents, size: tuple[int, int], light: Light) -> Rendered:
    h, w = int(size[0]), int(size[1])
    n = len(lat)
    f32 = torch.float32
    ppm = w / FOV_MM * _v(lat.scale)
    cx = (w - 1) / 2 + _v(lat.shift[:, 0]) * ppm
    cy = (h - 1) / 2 + _v(lat.shift[:, 1]) * ppm
    X = (torch.arange(w, dtype=f32).view(1, 1, w) - cx) / ppm        # (N, 1, W) mm, eyeball frame
    Y = (torch.arange(h, dtype=f32).view(1, h, 1) - cy) / ppm        # (N, H, 1)

    # ---- head frame: lids and skin move with the head, foreshortened by its rotation ----------
    hp, hy = _v(lat.head_pitch), _v(lat.head_yaw)
    Xh = (X + _FACE_DEPTH * hp.cos() * hy.sin()) / hy.cos()
    Yh = (Y + _FACE_DEPTH * hp.sin()) / hp.cos()
    mirror, half_w = _v(lat.mirror), _v(lat.half_width)
    s = Xh * mirror / half_w                                         # -1 nasal corner, +1 temporal
    R, ri = _v(lat.eyeball_r), _v(lat.iris_r)
    depth = (R * R - ri * ri).sqrt()
    theta = _v(lat.pitch - lat.head_pitch)                           # eye-in-head pitch
    corner_y = _v(lat.corner_y)
    yc = corner_y - _v(lat.tilt) * s / 2
    base = (1 - s * s).clamp(min=0)
    skew = _v(lat.skew)
    iris_top = -depth * theta.sin() - ri
    apex_u = torch.maximum(iris_top + _v(lat.cover), -(ri + 2.5))
    lid_u = (corner_y - apex_u).clamp(min=0.8) * _v(lat.openness)
    lid_l = (_v(lat.lower_apex) - 0.3 * depth * theta.sin() - corner_y).clamp(min=1.5)
    arch = _v(lat.lid_arch)
    base_u = base if bool((lat.lid_arch == 1).all()) else base ** arch
    yu = yc - lid_u * base_u * (1 + skew * s)                        # (N, 1, W) upper lid margin
    yl = yc + lid_l * base * (1 - 0.6 * skew * s)
    ppm_y = ppm * hp.cos()
    du = Yh - yu                                                     # (N, H, W) mm below the upper lid
    dl = yl - Yh
    # beyond the corners both lids meet: the distance to the corner keeps that line closed
    inside_d = torch.minimum(torch.minimum(du, dl), (1 - s.abs()) * half_w)
    ap = _coverage(inside_d * ppm_y)                                 # aperture coverage

    # ---- light --------------------------------------------------------------------------------
    L = light.direction.float()
    lx, ly, lz = (L[:, i].view(n, 1, 1) for i in range(3))
    amb, dif = _v(light.ambient), _v(light.diffuse)
    lit = None
    if bool((light.shadow > 0).any()):
        ang = _v(light.shadow_angle)
        side = (Xh * ang.cos() + Yh * ang.sin() - _v(light.shadow_offset)) * (ppm / 0.7)
        lit = 1 - _v(light.shadow) * torch.sigmoid(side)

    # eyeball sphere: Lambert, darkening past its silhouette (towards the corners)
    z2 = (R * R - X * X) - Y * Y
    fill = None
    if light.eye_fill is not None and bool((light.eye_fill > 0).any()):
        # Lambert under a light on the camera axis: the sphere's own facing ratio
        fill = torch.sqrt(z2.clamp(min=0)).div_(R).mul_(_v(light.eye_fill))
    nl_eye = torch.sqrt(z2.clamp(min=0)).mul_(-lz).add_(X * lx + Y * ly).div_(R).clamp_(min=0)
    nl_eye.div_(z2.neg_().clamp_(min=0).div_(25).add_(1))
    dif_eye = dif if light.eye_direct is None else dif * _v(light.eye_direct)
    shade_eye = nl_eye.mul_(dif_eye if lit is None else dif_eye * lit).add_(amb)
    if fill is not None:
        shade_eye.add_(fill)
    shade_eye.mul_(1 - 0.55 * torch.exp(du.clamp(min=0) / -1.3)).mul_(1 - 0.25 * torch.exp(dl.clamp(min=0) / -0.5))

    nl_skin = _skin_normal_dot(Xh, Yh, _v(lat.brow_y), L, LID["hollow"])
    # the lid's height between margin and crease (mm), for the round-10 lid knobs (off: not computed)
    lid_gap = (_v(lat.crease_gap) * (1 - (s / CREASE["extent"]) ** 2)).clamp(min=0.3) if any(
        LID[k] > 0 for k in ("bulge", "sulcus", "gain", "lower")) else None
    if LID["bulge"] > 0 or LID["sulcus"] > 0:
        # sin^2: no kink at the margin or the crease, whose own lines are drawn in the albedo
        relief = torch.sin(math.pi * ((yu - Yh) / lid_gap).clamp(0, 1)).square() * base * LID["bulge"]
        if LID["sulcus"] > 0:
            # the hollow between the lid and the brow, following the crease's curve (version 2's is straight)
            y_s = yu - lid_gap - LID["sulcus_gap"]
            relief = relief - LID["sulcus"] * torch.exp(-((Yh - y_s) / LID["sulcus_width"]) ** 2 / 2) * torch.exp(
                -(Xh * Xh) / (2 * 13.0 ** 2))
        # n.L ~ -lz - h_x lx - h_y ly, the slopes per mm from the pixel grid
        nl_skin = (nl_skin - torch.gradient(relief, dim=2)[0] * ppm.view(n, 1, 1) * lx
                   - torch.gradient(relief, dim=1)[0] * ppm_y.view(n, 1, 1) * ly)
    if light.wrap is not None:
        wrap = _v(light.wrap)
        nl_skin = (nl_skin + wrap) / (1 + wrap)
    nl_skin = nl_skin.clamp_(min=0)
    shade_skin = nl_skin.mul_(dif if lit is None else dif * lit).add_(amb)
    # ambient occlusion: the orbit around the opening receives less light
    occl = 0.3 if light.orbit_shade is None else _v(light.orbit_shade)
    reach = 3.0 if light.orbit_reach is None else _v(light.orbit_reach)
    shade_skin.mul_(1 - occl * torch.exp(inside_d.clamp(max=0) / reach))
    shade_base = shade_skin                                          # the follow levels' reference
    if EYE["orbit"] > 0:
        shade_eye = shade_eye * (1 - EYE["orbit"] * occl)
    if BROW_BONE["gain"] > 0:
        # real crops' top rows are brighter than the crease below them under every light
        # (docs/renderer.md, round 4): a shading term, not an albedo one, so the crease still
        # reads as skin of the same colour
        ridge = torch.sigmoid((-_v(lat.brow_bone_y) - Yh) / BROW_BONE["soft"])
        ridge = ridge * torch.exp(-((Xh / BROW_BONE["half_width"]) ** 6)) * BROW_BONE["gain"]
        lit_ridge = amb + dif * BROW_BONE["facing"] * (1 if lit is None else lit)
        if BROW_BONE["follow"] > 0:
            level = _skin_level(shade_base, inside_d, BROW_BONE["quantile"])
            lit_ridge = lit_ridge + BROW_BONE["follow"] * (level - lit_ridge)
        shade_skin = shade_skin + ridge * (lit_ridge - shade_skin)
    if CHEEK["gain"] > 0:
        # real crops' bottom rows (the cheek) are their brightest (docs/renderer.md, round 6)
        cheek = torch.sigmoid((Yh - CHEEK["y"]) / CHEEK["soft"]) * CHEEK["gain"]
        level = _skin_level(shade_base, inside_d, CHEEK["quantile"])
        shade_skin = shade_skin + cheek * (level - shade_skin)
    if LID["gain"] > 0 or LID["lower"] > 0:
        t = (yu - Yh) / lid_gap                                      # 0 at the margin, 1 at the crease
        band = torch.exp(-(((t - 0.5) / 0.4) ** 4)) * base * LID["gain"]
        if LID["lower"] > 0:
            rim = torch.exp(-((((Yh - yl) / LID["lower_width"]) - 0.5) / 0.5) ** 4) * base
            band = band + rim * LID["lower"]
        level = _skin_level(shade_base, inside_d, LID["quantile"])
        shade_skin = shade_skin + band.clamp(max=1) * (level - shade_skin)

    # ---- skin albedo: texture, brow, crease ---------------------------------------------------
    skin_w = lat.skin_waves
    freq = skin_w[..., 1].float()
    # amplitude ~ f^-1/2: blotches stronger than pores, no regular weave at high resolution
    tex = _waves(Xh, Yh, skin_w, _band(ppm.view(n, 1), freq) * freq.rsqrt() * 0.6)
    skin_mod = tex.mul_(CREASE["texture"] / math.sqrt(skin_w.shape[1])).add_(1)
    yb = -_v(lat.brow_y) - 1.5 * (1 - (Xh / 22) ** 2).clamp(min=0)
    brow = ((Yh - yb) / (_v(lat.brow_thick) / 2)) ** 2
    brow = torch.exp(-(brow * brow)).mul_(torch.exp(-((Xh / 24) ** 6)) * _v(lat.brow_dark))
    hair_w = _band(ppm, torch.tensor(1.4))
    if bool((hair_w > 0).any()):  # strands only where resolvable; a no-op (x 1) elsewhere
        brow.mul_(1 - 0.25 * hair_w * (1 - torch.cos(2 * math.pi * 1.4 * (Xh * 0.8 + Yh * 0.6))))
    skin_mod.mul_(1 - brow)
    y_cr = yu - _v(lat.crease_gap) * (1 - (s / CREASE["extent"]) ** 2).clamp(min=0)
    crease_w = (CREASE["width"] * ppm_y).clamp(min=1.0) / ppm_y       # at least one pixel wide
    crease = torch.exp(-(((Yh - y_cr) / crease_w) ** 2))
    skin_mod.mul_(1 - crease.mul_(_v(lat.crease_dark) * (s.abs() < CREASE["extent"] - 0.05)))
    if CREASE["lower"] > 0:
        # the lower lid's fold: a fainter line below the lower margin, shorter than the fissure
        y_lc = yl + _v(lat.lower_crease_gap) * (1 - (s / 1.05) ** 2).clamp(min=0)
        low = torch.exp(-(((Yh - y_lc) / crease_w) ** 2)) * (1 - s * s).clamp(min=0)
        skin_mod.mul_(1 - low.mul_(CREASE["lower"] * _v(lat.crease_dark)))
    if CREASE["folds_upper"] > 0 or CREASE["folds_lower"] > 0:
        skin_mod.mul_(_folds(lat, s, Yh, y_cr, yl, ppm_y))

    # lashes on the lid margins (denser towards the temporal side), drawn over both
    t_u = 0.5 + 0.7 * _v(lat.lash)
    lash = torch.exp(-(((Yh - (yu - 0.3 * t_u)) / t_u) ** 2)).mul_(0.55 + 0.175 * (s + 1).clamp(0, 2))
    lash.add_(0.35 * torch.exp(-(((Yh - (yl + 0.25)) / 0.35) ** 2)))
    keep = 1 - lash.mul_(_v(lat.lash) * (s.abs() < 1.02)).clamp_(max=0.92)

    # ---- iris, pupil, glint: in a window around the pupil -------------------------------------
    g = lat.gaze.float()
    gx, gy, gz = (g[:, i].view(n, 1, 1) for i in range(3))
    px, py = depth * gx, depth * gy                                  # pupil centre, mm
    pupil = torch.stack([(cx + px * ppm).view(n), (cy + py * ppm).view(n)], 1)
    # window size from the largest possible iris at the largest zoom, never from the batch
    k = int(math.ceil(2 * GEOMETRY["iris_r"][1] * GEOMETRY["scale"][1] * w / FOV_MM * 1.08)) + 4
    win = _Window(pupil, k, h, w)
    Xw = (win.xs.float().view(n, 1, k) - cx) / ppm
    Yw = (win.ys.float().view(n, k, 1) - cy) / ppm
    gxy = (gx * gx + gy * gy).sqrt()
    ux = torch.where(gxy > 1e-6, gx / gxy.clamp(min=1e-6), torch.ones_like(gx))
    uy = torch.where(gxy > 1e-6, gy / gxy.clamp(min=1e-6), torch.zeros_like(gy))
    qx, qy = Xw - px, Yw - py
    agz = gz.abs().clamp(min=0.05)
    a = (qx * ux + qy * uy) / agz                                    # disc coordinates, mm
    b = qy * ux - qx * uy
    rho = (a * a + b * b).sqrt().clamp(min=1e-6)
    # image distance per unit of disc radius along this direction, in pixels
    stretch = ((a / rho * agz) ** 2 + (b / rho) ** 2).sqrt() * ppm
    rp = _v(lat.pupil_r)
    cov_i = _coverage((ri - rho) * stretch)
    cov_p = _coverage((rp - rho) * stretch)
    iris_w = lat.iris_waves.float()
    harm, phase = iris_w[..., 0].view(n, -1, 1, 1), iris_w[..., 1].view(n, -1, 1, 1)
    ang_disc = torch.atan2(b, a * mirror).unsqueeze(1)
    lam_px = 2 * math.pi * 0.7 * (ri * ppm).unsqueeze(1) / harm     # fibre wavelength at 0.7 r
    fib = (torch.cos(harm * ang_disc + phase + 1.3 * rho.unsqueeze(1)) * (lam_px / 2 - 1).clamp(0, 1)).mean(1)
    rel = rho / ri
    iris_mod = (0.8 + 0.35 * fib) * (1 - 0.55 * ((rel - 0.8) / 0.2).clamp(0, 1))   # limbal ring
    iris_mod = iris_mod * (1 + 0.25 * torch.exp(-((rho - 1.5 * rp) / 0.6) ** 2))    # collarette
    # corneal glint: where the light's mirror reflection on the cornea sits
    half = L + torch.tensor([0.0, 0.0, -1.0])
    half = half / half.norm(dim=1, keepdim=True)
    gpos = _CORNEA_D * g[:, :2] + _CORNEA_R * half[:, :2]
    sig = torch.clamp(0.28 * ppm, min=0.55) / ppm

    def gaussian_spot(pos: torch.Tensor) -> torch.Tensor:
        return (torch.exp(-((Xw - pos[:, 0].view(n, 1, 1)) ** 2) / (2 * sig * sig))
                * torch.exp(-((Yw - pos[:, 1].view(n, 1, 1)) ** 2) / (2 * sig * sig)))

    spot = _v(light.glint) * gaussian_spot(gpos)
    if light.screen_glint is not None and bool((light.screen_glint > 0).any()):
        # the mirror point of a light on the camera axis: the half vector is the axis itself
        spot = spot + _v(light.screen_glint) * gaussian_spot(_CORNEA_D * g[:, :2])
    spot = spot * _coverage((1.05 * ri - rho) * stretch)
    labels_w = (rho < ri).to(torch.uint8) + (rho < rp).to(torch.uint8)
    inside_w = win.gather(inside_d) > 0
    disc = rho < rp
    vis = (disc & inside_w).flatten(1).sum(1).float() / disc.flatten(1).sum(1).clamp(min=1).float()
    ci = win.paste(cov_i)
    cp = win.paste(cov_p)
    iris_term = win.paste(iris_mod * (cov_i - cov_p))
    glint = win.paste(spot)
    labels = win.paste(labels_w)

    # ---- caruncle at the nasal corner ---------------------------------------------------------
    sc = (s + 0.9) / 0.13
    car = _coverage((1 - (sc * sc + ((Yh - yc) / 1.3) ** 2).sqrt()) * (1.3 * ppm_y))

    if EYE["cap"] > 0:
        # in recorded luma: the skin's albedo and the sclera's (with the camera's gain) differ by 2-4x
        luma = torch.tensor([0.299, 0.587, 0.114])
        scl = lat.sclera_rgb.float() @ luma
        if light.sclera_gain is not None:
            scl = scl * light.sclera_gain.float()
        # the skin as recorded: its shading, texture, crease, brow hair and lashes, times its albedo
        level = _skin_level(shade_skin * skin_mod * keep, inside_d, EYE["cap_quantile"]) * (
            lat.skin_rgb.float() @ luma).view(n, 1, 1)
        shade_eye = torch.minimum(shade_eye, EYE["cap"] * level / scl.view(n, 1, 1))

    # ---- composite: image = sum_j colour_j * map_j, one batched matmul ------------------------
    eye = (ap * keep).mul_(shade_eye)
    eye_nc = eye * (1 - car)
    red = (s * s).clamp(max=1)                                       # (N, 1, W) sclera redness
    m_scl = eye_nc * (1 - ci)
    maps = torch.stack([
        (1 - ap).mul_(keep).mul_(shade_skin).mul_(skin_mod),        # skin
        m_scl,                                                       # sclera
        m_scl * red,                                                 # sclera redness towards corners
        eye_nc * iris_term,                                          # iris
        eye_nc * cp,                                                 # pupil
        eye * car,                                                   # caruncle
        glint.mul_(ap),                                              # glint (white)
    ], 1).view(n, 7, h * w)
    sclera = lat.sclera_rgb.float()
    if light.sclera_gain is not None:
        sclera = sclera * light.sclera_gain.float().view(n, 1)
    iris_rgb = lat.iris_rgb.float()
    if light.iris_gain is not None:
        iris_rgb = iris_rgb * light.iris_gain.float().view(n, 1)
    cols = torch.stack([
        lat.skin_rgb.float(), sclera,
        -sclera * _v(lat.redness).view(n, 1) * torch.tensor([0.0, 0.35, 0.35]),
        iris_rgb, torch.tensor(_PUPIL_RGB).expand(n, 3),
        torch.tensor(_CARUNCLE_RGB) * (0.6 + 0.4 * lat.skin_rgb.float()), torch.ones(n, 3),
    ], 2)                                                            # (N, 3, 7)
    image = torch.bmm(cols, maps).view(n, 3, h, w)

    # ---- labels -------------------------------------------------------------------------------
    inside = inside_d > 0
    masks = (labels + 1).mul_(inside).masked_fill_(inside & (car > 0.5), 0)
    # corners in head coordinates (s = -1, +1; y = yc) mapped back to pixels
    sgn = torch.tensor([-1.0, 1.0]).view(1, 2)
    xh_c = sgn * mirror.view(n, 1) * half_w.view(n, 1)
    yh_c = corner_y.view(n, 1) - _v(lat.tilt).view(n, 1) * sgn / 2
    xc = xh_c * hy.cos().view(n, 1) - _FACE_DEPTH * (hp.cos() * hy.sin()).view(n, 1)
    ycr = yh_c * hp.cos().view(n, 1) - _FACE_DEPTH * hp.sin().view(n, 1)
    corners = torch.stack([cx.view(n, 1) + xc * ppm.view(n, 1), cy.view(n, 1) + ycr * ppm.view(n, 1)], -1)
    return Rendered(image=image, masks=masks, pupil=pupil, corners=corners, pupil_visible=vis,
                    ppm=ppm.view(n))
