"""The ``mean`` estimator: the constant-prediction floor of every gaze table."""

from __future__ import annotations

from pathlib import Path

import torch

from gazebench.api import Estimator
from gazebench.geometry import normalize
from gazebench.io import load_state, save_state
from gazebench.types import EyeBatch


class MeanEstimator(Estimator):
    """Predicts the training set's mean gaze vector, renormalised to unit length."""

    default_rank = 1  # `gazebench run` without --estimator: the floor any estimator must beat
    floor = True

    def __init__(self) -> None:
        pass

    def fit(self, train: EyeBatch) -> "MeanEstimator":
        if train.gaze is None:
            raise ValueError("estimator 'mean' needs a labelled training set (gaze is missing)")
        self.mean_gaze_ = normalize(train.gaze.double().mean(0)).float()
        return self

    def predict(self, batch: EyeBatch) -> torch.Tensor:
        if not hasattr(self, "mean_gaze_"):
            raise RuntimeError("estimator 'mean' is not fitted: call fit() first")
        return self.mean_gaze_.expand(len(batch), 3).clone()

    def save(self, path: str | Path) -> None:
        save_state(path, {"mean_gaze": self.mean_gaze_})

    def load(self, path: str | Path) -> "MeanEstimator":
        self.mean_gaze_ = load_state(path)["mean_gaze"].float()
        return self
