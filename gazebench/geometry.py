"""The gaze convention, in one place: vector <-> (pitch, yaw) and angular error.

Frame: MPIIGaze's normalised camera frame: x right, y down, z away from the camera; the gaze
vector points from the eye to the target, so looking straight into the camera is (0, 0, -1).

- ``pitch = arcsin(-y)`` (positive: looking up), ``yaw = arctan2(-x, -z)`` (positive: looking
  towards the camera's left, i.e. -x).
- inverse: ``x = -cos(pitch) sin(yaw)``, ``y = -sin(pitch)``, ``z = -cos(pitch) cos(yaw)``.

Every function accepts a NumPy array or a torch tensor and returns the same kind; angles are
radians unless the name says ``_deg``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _lib(x: Any) -> Any:
    return torch if isinstance(x, torch.Tensor) else np


def normalize(v: Array, eps: float = 1e-12) -> Array:
    """Rows of ``v`` (..., 3) scaled to unit length; raises on a zero or non-finite vector."""
    lib = _lib(v)
    n = lib.linalg.norm(v, axis=-1, keepdims=True) if lib is np else torch.linalg.norm(v, dim=-1, keepdim=True)
    bad = ~lib.isfinite(n) | (n < eps)
    if bool(bad.any()):
        rows = np.flatnonzero(np.asarray(bad.reshape(-1).cpu() if lib is torch else bad.reshape(-1)))
        raise ValueError(f"gaze vector(s) at row(s) {rows[:5].tolist()} are zero-length or not finite")
    return v / n


def vector_to_pitchyaw(v: Array) -> Array:
    """(..., 3) gaze vectors -> (..., 2) (pitch, yaw) radians."""
    lib = _lib(v)
    v = normalize(v)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    pitch = lib.arcsin(lib.clip(-y, -1.0, 1.0))
    yaw = lib.arctan2(-x, -z)
    return lib.stack([pitch, yaw], -1)


def pitchyaw_to_vector(py: Array) -> Array:
    """(..., 2) (pitch, yaw) radians -> (..., 3) unit gaze vectors."""
    lib = _lib(py)
    pitch, yaw = py[..., 0], py[..., 1]
    return lib.stack([-lib.cos(pitch) * lib.sin(yaw), -lib.sin(pitch), -lib.cos(pitch) * lib.cos(yaw)], -1)


def angular_error_deg(a: Array, b: Array) -> Array:
    """Per-row angle in degrees between gaze vectors ``a`` and ``b`` (..., 3); neither need be unit."""
    lib = _lib(a)
    a, b = normalize(a), normalize(b)
    cos = lib.clip((a * b).sum(-1), -1.0, 1.0)
    return lib.degrees(lib.arccos(cos)) if lib is np else torch.rad2deg(torch.arccos(cos))


def error_summary(errors_deg: Any, curve_max_deg: float = 30.0, curve_step_deg: float = 1.0) -> dict[str, Any]:
    """Mean, median, std (population), n, and the cumulative curve of per-sample errors.

    ``curve`` holds ``[threshold_deg, fraction of samples with error <= threshold]`` pairs, the
    paper's cumulative error plot (Fig. 7).
    """
    e = np.asarray(errors_deg.detach().cpu() if isinstance(errors_deg, torch.Tensor) else errors_deg,
                   dtype=np.float64).reshape(-1)
    if e.size == 0:
        return {"mean_deg": None, "median_deg": None, "std_deg": None, "n": 0, "curve": []}
    thresholds = np.arange(0.0, curve_max_deg + 1e-9, curve_step_deg)
    curve = [[float(t), float((e <= t).mean())] for t in thresholds]
    return {"mean_deg": float(e.mean()), "median_deg": float(np.median(e)), "std_deg": float(e.std()),
            "n": int(e.size), "curve": curve}
