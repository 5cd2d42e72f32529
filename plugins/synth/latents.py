"""The latent eye: what a sample *is*, before any style renders it.

A latent is drawn from counter-based keys (:mod:`.rng`), so it depends only on (seed, split,
index) and never on the batch. Subjects are drawn from their own key (seed, subject id) and
shared by every split, like the people of a real dataset; a sample's subject is
``index % n_subjects``, which keeps subjects balanced for leave-one-subject-out.

Units: millimetres and radians. Frame: MPIIGaze's normalised camera frame (x right, y down,
z away from the camera), the same as :mod:`gazebench.geometry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import torch

from gazebench.geometry import pitchyaw_to_vector

from . import rng

#: streams of the seed: one per split, so splits draw disjoint latent eyes
SPLIT_STREAMS: dict[str, int] = {"train": 101, "test": 202, "unlabelled": 303}
SUBJECT_STREAM = 404
#: slot offsets inside a sample's key: each consumer reads its own range
WILD_SLOT = 1000

# iris colour palettes in display RGB: dark brown, brown, hazel, green, blue, grey
_IRIS_PALETTE = torch.tensor([[0.16, 0.09, 0.05], [0.33, 0.19, 0.09], [0.45, 0.33, 0.16],
                              [0.33, 0.42, 0.26], [0.36, 0.50, 0.66], [0.50, 0.53, 0.56]],
                             dtype=torch.float64)
# skin tone end points (light, dark) in display RGB
_SKIN_LIGHT = torch.tensor([0.93, 0.76, 0.66], dtype=torch.float64)
_SKIN_DARK = torch.tensor([0.42, 0.27, 0.19], dtype=torch.float64)
#: sinusoids of the skin texture and angular harmonics of the iris fibres, per subject
N_SKIN_WAVES = 16
N_IRIS_WAVES = 6


#: ranges (low, high) of the eye's geometry, uniform. Module constants so that a tuning script can
#: try other distributions (results/realism/tune.py); the defaults are renderer version 2's
GEOMETRY: dict[str, tuple[float, float]] = {
    "scale": (0.93, 1.07),         # zoom of the normalised crop
    "shift_x": (-1.0, 1.0),        # eyeball centre from the crop centre, mm
    "shift_y": (-2.0, 0.0),        # image axes, y down: a negative shift_y sets the eye higher
    "cover": (0.6, 2.8),           # upper lid over the iris top, mm
    "lower_apex": (4.0, 5.4),
    "crease_gap": (2.5, 5.0),
    "crease_dark": (0.5, 0.8),
    "lash": (0.33028, 0.8257),
    "brow_y": (10.5, 14.0),
    "openness": (0.89224, 1.22683),
    "iris_r": (5.488, 6.188),
    "lid_arch": (1.0, 1.0),        # exponent of the upper lid's profile: 1 parabola, < 1 rounder
    "lower_crease_gap": (3.0, 5.0),  # the lower lid's fold below its margin, mm (drawn if CREASE["lower"])
    # lower edge of the brow-bone ridge above the eyeball centre, mm (drawn if render.BROW_BONE["gain"])
    "brow_bone_y": (8.5, 10.5),
    # the share of eyes with the nasal corner on the image's left (low == high: a probability)
    "nasal_left": (0.5, 0.5),
}


def _lerp(u: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * u


def _geo(u: torch.Tensor, name: str) -> torch.Tensor:
    return _lerp(u, *GEOMETRY[name])


@dataclass
class Latents:
    """Every quantity of a batch of latent eyes: float64 tensors, first dimension N."""

    # the labels
    gaze: torch.Tensor          # (N, 3) unit gaze vectors
    pitch: torch.Tensor         # (N,) gaze pitch
    yaw: torch.Tensor           # (N,) gaze yaw
    head_pitch: torch.Tensor
    head_yaw: torch.Tensor
    subject: torch.Tensor       # int64 (N,)
    # per sample
    pupil_r: torch.Tensor       # pupil radius, mm
    shift: torch.Tensor         # (N, 2) eye centre offset from the crop centre, mm
    scale: torch.Tensor         # zoom of the normalised crop
    mirror: torch.Tensor        # +1: nasal corner on the image's left, -1: on its right
    openness: torch.Tensor      # upper-lid opening factor (squint < 1 < wide)
    light: torch.Tensor         # (N, 3) clean light: ambient, direction x, direction y
    # per subject
    eyeball_r: torch.Tensor
    iris_r: torch.Tensor
    half_width: torch.Tensor    # half the palpebral fissure (corner to corner), mm
    corner_y: torch.Tensor      # corners below the eyeball centre, mm
    tilt: torch.Tensor          # outer corner higher than the inner by, mm
    skew: torch.Tensor          # lid apex shift along the fissure
    cover: torch.Tensor         # how far the upper lid covers the iris top, mm
    lower_apex: torch.Tensor    # lower lid apex below the eyeball centre, mm
    crease_gap: torch.Tensor
    crease_dark: torch.Tensor
    lash: torch.Tensor          # lash darkness and thickness, 0..1
    lid_arch: torch.Tensor      # exponent of the upper lid's profile (1: parabola)
    lower_crease_gap: torch.Tensor
    brow_bone_y: torch.Tensor   # lower edge of the brow-bone ridge above the eyeball centre, mm
    brow_y: torch.Tensor
    brow_thick: torch.Tensor
    brow_dark: torch.Tensor
    skin_rgb: torch.Tensor      # (N, 3)
    iris_rgb: torch.Tensor      # (N, 3)
    sclera_rgb: torch.Tensor    # (N, 3)
    redness: torch.Tensor
    skin_waves: torch.Tensor    # (N, N_SKIN_WAVES, 3): direction angle, frequency, phase
    iris_waves: torch.Tensor    # (N, N_IRIS_WAVES, 2): harmonic number, phase
    keys: torch.Tensor          # int64 (N,): the sample keys, for the wild style and noise

    def __len__(self) -> int:
        return int(self.pitch.shape[0])

    def select(self, index: torch.Tensor | slice) -> "Latents":
        """The latents of some rows."""
        return Latents(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True)
class LatentConfig:
    """The distribution latent eyes are drawn from (degrees where the name says so)."""

    n_subjects: int = 15
    pitch_range_deg: tuple[float, float] = (-25.0, 15.0)
    yaw_range_deg: tuple[float, float] = (-30.0, 30.0)
    head_pose_std_deg: float = 6.0

    def check(self) -> None:
        if int(self.n_subjects) < 1:
            raise ValueError(f"n_subjects must be at least 1, got {self.n_subjects}")
        for name in ("pitch_range_deg", "yaw_range_deg"):
            lo, hi = getattr(self, name)
            if not -80 <= lo <= hi <= 80:
                raise ValueError(f"{name} must be (low, high) degrees within [-80, 80], got {(lo, hi)}")
        if not 0 <= self.head_pose_std_deg <= 30:
            raise ValueError(f"head_pose_std_deg must lie in [0, 30], got {self.head_pose_std_deg}")


def _subjects(seed: int, subject: torch.Tensor) -> dict[str, torch.Tensor]:
    u = rng.uniform(rng.keys(seed, SUBJECT_STREAM, subject), 24 + N_SKIN_WAVES * 3 + N_IRIS_WAVES * 2)
    tone = u[:, 10].view(-1, 1) ** 1.3
    skin = _SKIN_LIGHT * (1 - tone) + _SKIN_DARK * tone
    palette = _IRIS_PALETTE[(u[:, 11] * len(_IRIS_PALETTE)).long().clamp(max=len(_IRIS_PALETTE) - 1)]
    iris = palette * _lerp(u[:, 12], 0.8, 1.2).view(-1, 1)
    sclera = torch.stack([_lerp(u[:, 13], 0.90, 0.97), _lerp(u[:, 14], 0.86, 0.93),
                          _lerp(u[:, 15], 0.80, 0.90)], 1)
    o = 24
    sw = u[:, o:o + 3 * N_SKIN_WAVES].view(-1, N_SKIN_WAVES, 3)
    # frequencies from 0.15 to 3 cycles/mm: coarse blotches to pores (band-limited when drawn)
    skin_waves = torch.stack([sw[..., 0] * 2 * math.pi, 0.15 * 20.0 ** sw[..., 1], sw[..., 2] * 2 * math.pi], -1)
    o += 3 * N_SKIN_WAVES
    iw = u[:, o:o + 2 * N_IRIS_WAVES].view(-1, N_IRIS_WAVES, 2)
    iris_waves = torch.stack([torch.floor(_lerp(iw[..., 0], 7.0, 40.0)), iw[..., 1] * 2 * math.pi], -1)
    return {
        "eyeball_r": _lerp(u[:, 0], 11.6, 12.4), "iris_r": _geo(u[:, 1], "iris_r"),
        "half_width": _lerp(u[:, 2], 13.5, 15.5), "corner_y": _lerp(u[:, 3], 0.0, 1.2),
        "tilt": _lerp(u[:, 4], -0.8, 1.6), "skew": _lerp(u[:, 5], -0.25, 0.25),
        "cover": _geo(u[:, 6], "cover"), "lower_apex": _geo(u[:, 7], "lower_apex"),
        "crease_gap": _geo(u[:, 8], "crease_gap"), "crease_dark": _geo(u[:, 9], "crease_dark"),
        "lash": _geo(u[:, 16], "lash"), "brow_y": _geo(u[:, 17], "brow_y"),
        "brow_thick": _lerp(u[:, 18], 2.5, 4.0), "brow_dark": _lerp(u[:, 19], 0.25, 0.75),
        "skin_rgb": skin, "iris_rgb": iris, "sclera_rgb": sclera, "redness": _lerp(u[:, 20], 0.0, 0.12),
        "skin_waves": skin_waves, "iris_waves": iris_waves, "lid_arch": _geo(u[:, 21], "lid_arch"),
        "lower_crease_gap": _geo(u[:, 22], "lower_crease_gap"),
        # slot 23 was drawn but unused before: taking it leaves every other latent's value alone
        "brow_bone_y": _geo(u[:, 23], "brow_bone_y"),
    }


def sample_latents(indices: Sequence[int] | torch.Tensor, *, seed: int, split: str,
                   config: LatentConfig = LatentConfig()) -> Latents:
    """The latent eyes at ``indices`` of ``split`` under ``seed``.

    Args:
        indices: sample indices (any order, repeats allowed).
        seed: the dataset seed.
        split: ``train``, ``test`` or ``unlabelled``: each draws its own eyes.
        config: the latent distribution.
    """
    if split not in SPLIT_STREAMS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_STREAMS)}")
    idx = torch.as_tensor(list(indices) if not isinstance(indices, torch.Tensor) else indices,
                          dtype=torch.int64).view(-1)
    if idx.numel() and int(idx.min()) < 0:
        raise ValueError("sample indices must be non-negative")
    key = rng.keys(seed, SPLIT_STREAMS[split], idx)
    u = rng.uniform(key, 16)
    rad = math.pi / 180
    p_lo, p_hi = config.pitch_range_deg
    y_lo, y_hi = config.yaw_range_deg
    pitch = _lerp(u[:, 0], p_lo, p_hi) * rad
    yaw = _lerp(u[:, 1], y_lo, y_hi) * rad
    head = rng.normal_from_uniform(u[:, 2:4]).clamp(-2.5, 2.5) * config.head_pose_std_deg * rad
    subject = idx % int(config.n_subjects)
    return Latents(
        gaze=pitchyaw_to_vector(torch.stack([pitch, yaw], 1)), pitch=pitch, yaw=yaw,
        head_pitch=head[:, 0], head_yaw=head[:, 1], subject=subject,
        # pupils between 2.6 and 6.4 mm wide, more often mid-sized
        pupil_r=_lerp((u[:, 4] + u[:, 5]) / 2, 1.3, 3.2),
        shift=torch.stack([_geo(u[:, 6], "shift_x"), _geo(u[:, 7], "shift_y")], 1), scale=_geo(u[:, 8], "scale"),
        mirror=torch.where(u[:, 9] < GEOMETRY["nasal_left"][0], 1.0, -1.0).double(), openness=_geo(u[:, 10], "openness"),
        light=torch.stack([_lerp(u[:, 11], 0.92, 1.06), (u[:, 12] - 0.5) * 0.4, _lerp(u[:, 13], -0.5, -0.1)], 1),
        keys=key, **_subjects(seed, subject),
    )
