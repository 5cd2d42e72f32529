"""``alr``: Adaptive Linear Regression (Lu, Sugano, Okabe and Sato, TPAMI 2014).

A test feature ``f`` is reconstructed as a sparse combination of training features,
``w = argmin ||w||_1  s.t.  ||A w - f||_2 small``, solved in its Lagrangian (lasso) form, and the
gaze is the same combination of training gazes, renormalised: ``g = normalize(G w)``.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from gazebench.geometry import normalize
from gazebench.types import EyeBatch

from .classical import FeatureEstimator
from .features import head_pose_matrix


def sparse_weights(candidates: np.ndarray, target: np.ndarray, alpha: float, positive: bool,
                   max_iter: int = 5000) -> np.ndarray:
    """Lasso weights ``w`` (K,) with ``candidates.T @ w ~= target``.

    ``candidates`` is ``(K, D)`` (one training feature per row). The problem is scaled so that
    the candidates have unit mean norm, which keeps ``alpha`` independent of the feature's scale:
    ``min 1/(2D) ||A w - f||^2 + alpha ||w||_1`` with ``A = candidates.T / s`` and ``f = target / s``.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    a = np.asarray(candidates, dtype=np.float64).T
    f = np.asarray(target, dtype=np.float64)
    s = float(np.linalg.norm(a, axis=0).mean()) or 1.0
    model = Lasso(alpha=alpha, fit_intercept=False, positive=positive, max_iter=max_iter, tol=1e-8,
                  selection="cyclic")
    with warnings.catch_warnings():
        # with alpha near 0 and more candidates than dimensions the lasso converges slowly; the
        # last iterate is still a fine reconstruction
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(a / s, f / s)
    return model.coef_


class ALREstimator(FeatureEstimator):
    """Adaptive Linear Regression: the gaze as a sparse combination of training gazes.

    For each test sample the ``n_candidates`` training samples nearest in feature space (and,
    when the training set has a head pose, in head pose scaled by ``pose_weight`` per radian)
    are the dictionary; the lasso weights that reconstruct the test feature from them combine
    their gaze vectors. If every weight vanishes (a feature far from all), the candidates' mean
    gaze is used.

    Args:
        feature: ``grid15`` (Lu et al.'s 15-D feature, default), ``hog`` or ``raw``.
        n_candidates: dictionary size per test sample (``None``: the whole training set).
        alpha: lasso strength on the scale-normalised problem (see :func:`sparse_weights`).
        positive: constrain the weights to be non-negative (a conic combination of gazes).
        head_pose: use the head pose to choose candidates when the training set has it.
        pose_weight: weight of one radian of head pose against the feature distance.
        seed: unused (ALR is deterministic); kept so every estimator takes one.
    """

    _state_keys: ClassVar[tuple[str, ...]] = ("features_", "gaze_", "pose_")
    test_params: ClassVar[dict[str, Any]] = {"n_candidates": 16}
    _append_head_pose = False

    def __init__(self, feature: str = "grid15", n_candidates: int | None = 64, alpha: float = 1e-5,
                 positive: bool = True, head_pose: bool = True, pose_weight: float = 0.1,
                 seed: int | None = None) -> None:
        self.feature, self.n_candidates, self.alpha, self.positive = feature, n_candidates, alpha, positive
        self.head_pose, self.pose_weight, self.seed = head_pose, pose_weight, seed

    def _fit(self, x: np.ndarray, gaze: np.ndarray, train: EyeBatch) -> None:
        if self.alpha < 0 or (self.n_candidates is not None and int(self.n_candidates) < 1):
            raise ValueError(f"estimator 'alr': alpha must be >= 0 and n_candidates >= 1 or null, "
                             f"got alpha={self.alpha}, n_candidates={self.n_candidates}")
        self.features_ = x.astype(np.float64)
        self.gaze_ = gaze.astype(np.float64)
        self.pose_ = head_pose_matrix(train, "alr").astype(np.float64) if self.uses_head_pose_ \
            else np.zeros((len(x), 2))

    def _candidates(self, x: np.ndarray, pose: np.ndarray) -> np.ndarray:
        n = len(self.features_)
        k = n if self.n_candidates is None else min(int(self.n_candidates), n)
        d = ((x[:, None, :] - self.features_[None]) ** 2).sum(-1)
        if self.uses_head_pose_:
            d = d + (self.pose_weight ** 2) * ((pose[:, None, :] - self.pose_[None]) ** 2).sum(-1)
        if k == n:
            return np.broadcast_to(np.arange(n), d.shape)
        return np.argsort(d, axis=1, kind="stable")[:, :k]

    def _predict(self, x: np.ndarray, batch: EyeBatch) -> np.ndarray:
        pose = head_pose_matrix(batch, "alr") if self.uses_head_pose_ else np.zeros((len(x), 2))
        out = np.empty((len(x), 3))
        for start in range(0, len(x), 256):  # bounds the (chunk, N_train) distance matrix
            sl = slice(start, start + 256)
            cand = self._candidates(x[sl].astype(np.float64), pose[sl])
            for row, (idx, f) in enumerate(zip(cand, x[sl])):
                w = sparse_weights(self.features_[idx], f, self.alpha, self.positive)
                g = self.gaze_[idx].T @ w
                if np.linalg.norm(g) < 1e-9:
                    g = self.gaze_[idx].mean(0)
                out[start + row] = g
        return np.asarray(normalize(out))
