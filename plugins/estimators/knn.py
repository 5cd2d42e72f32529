"""``knn``: the cascaded k-nearest-neighbour estimator (after Wood et al., UnityEyes, ETRA 2016).

Neighbours are chosen jointly by head pose, pupil centre and appearance, in a cascade where
each stage narrows the candidates of the one before:

1. head pose: the ``n_pose`` training samples whose head direction (the unit vector of its
   (pitch, yaw)) makes the smallest angle with the test sample's (skipped when the training
   set has no head pose, or ``head_pose`` is false);
2. pupil centre: of those, the ``n_pupil`` nearest in pupil position, Euclidean distance in
   pixels of the 36 x 60 input divided by its width (skipped when ``pupil="off"``);
3. appearance: of those, the ``k`` nearest in the feature (Euclidean distance after
   standardising each feature dimension on the training set).

The prediction is the inverse-distance-weighted mean of the ``k`` neighbours' gaze vectors,
renormalised. Ties keep the training order (stable sorts), so results are deterministic.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from gazebench.geometry import normalize, pitchyaw_to_vector
from gazebench.types import EyeBatch

from .classical import FeatureEstimator
from .features import estimate_pupil, head_pose_matrix

PUPIL_SOURCES = ("estimate", "labels", "off")


def _take(order: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.take_along_axis(idx, order, axis=1)


class CascadedKNNEstimator(FeatureEstimator):
    """Cascaded k-NN: head pose, then pupil centre, then appearance (see the module docstring).

    Args:
        feature: appearance feature: ``hog`` (default), ``raw`` or ``grid15``.
        k: neighbours averaged in the last stage.
        n_pose: candidates kept by the head-pose stage.
        n_pupil: candidates kept by the pupil stage.
        pupil: where pupil centres come from, the same way for training and test images:
            ``estimate`` (default: the darkest blob, :func:`.features.estimate_pupil`, which
            needs no landmarks, as on real data), ``labels`` (``batch.pupil``, which a real test
            set rarely has), or ``off``.
        head_pose: use the head-pose stage when the training set has a head pose.
        seed: unused (k-NN is deterministic); kept so every estimator takes one.
    """

    param_ranges = {"k": (1, None), "n_pose": (1, None), "n_pupil": (1, None)}

    _state_keys: ClassVar[tuple[str, ...]] = ("features_", "mean_", "scale_", "gaze_", "pose_dir_", "pupil_")
    _append_head_pose = False
    test_params: ClassVar[dict[str, Any]] = {"k": 3, "n_pose": 24, "n_pupil": 8}

    def __init__(self, feature: str = "hog", k: int = 8, n_pose: int = 256, n_pupil: int = 64,
                 pupil: str = "estimate", head_pose: bool = True, seed: int | None = None) -> None:
        self.feature, self.k, self.n_pose, self.n_pupil = feature, k, n_pose, n_pupil
        self.pupil, self.head_pose, self.seed = pupil, head_pose, seed

    def _pupils(self, batch: EyeBatch) -> np.ndarray:
        prepared = self.prepare(batch)
        width = float(prepared.size[1])
        if self.pupil == "labels":
            if prepared.pupil is None:
                raise ValueError("estimator 'knn' with pupil=labels needs batch.pupil; "
                                 "use -o knn.pupil=estimate for data without pupil centres")
            centres = prepared.pupil.to(torch.float64)
        else:
            centres = estimate_pupil(prepared.images.cpu()).to(torch.float64)
        return (centres / width).numpy()

    def _pose_dirs(self, batch: EyeBatch) -> np.ndarray:
        return np.asarray(pitchyaw_to_vector(head_pose_matrix(batch, "knn").astype(np.float64)))

    def _fit(self, x: np.ndarray, gaze: np.ndarray, train: EyeBatch) -> None:
        if self.pupil not in PUPIL_SOURCES:
            raise ValueError(f"estimator 'knn': pupil must be one of {', '.join(PUPIL_SOURCES)}, got {self.pupil!r}")
        if min(int(self.k), int(self.n_pose), int(self.n_pupil)) < 1:
            raise ValueError(f"estimator 'knn': k, n_pose and n_pupil must be >= 1, "
                             f"got {self.k}, {self.n_pose}, {self.n_pupil}")
        self.mean_ = x.mean(0).astype(np.float64)
        self.scale_ = np.where(x.std(0) > 1e-8, x.std(0), 1.0).astype(np.float64)
        self.features_ = ((x - self.mean_) / self.scale_).astype(np.float32)
        self.gaze_ = gaze.astype(np.float64)
        n = len(x)
        self.pose_dir_ = self._pose_dirs(train) if self.uses_head_pose_ else np.zeros((n, 3))
        self.pupil_ = self._pupils(train) if self.pupil != "off" else np.zeros((n, 2))

    def _predict(self, x: np.ndarray, batch: EyeBatch) -> np.ndarray:
        n_train = len(self.features_)
        feats = ((x - self.mean_) / self.scale_).astype(np.float32)
        pose = self._pose_dirs(batch) if self.uses_head_pose_ else None
        pupil = self._pupils(batch) if self.pupil != "off" else None
        out = np.empty((len(x), 3))
        for start in range(0, len(x), 128):  # bounds the (chunk, N_train) distance matrices
            sl = slice(start, start + 128)
            m = len(feats[sl])
            idx = np.broadcast_to(np.arange(n_train), (m, n_train))
            if pose is not None:
                cos = pose[sl] @ self.pose_dir_.T
                idx = np.argsort(-cos, axis=1, kind="stable")[:, :min(int(self.n_pose), n_train)]
            if pupil is not None:
                d = ((self.pupil_[idx] - pupil[sl][:, None, :]) ** 2).sum(-1)
                idx = _take(np.argsort(d, axis=1, kind="stable")[:, :min(int(self.n_pupil), idx.shape[1])], idx)
            diff = self.features_[idx] - feats[sl][:, None, :]
            d = np.sqrt((diff.astype(np.float64) ** 2).sum(-1))
            order = np.argsort(d, axis=1, kind="stable")[:, :min(int(self.k), idx.shape[1])]
            idx, d = _take(order, idx), np.take_along_axis(d, order, axis=1)
            w = 1.0 / (d + 1e-6)
            out[start:start + m] = (self.gaze_[idx] * w[..., None]).sum(1)
        return np.asarray(normalize(out))
