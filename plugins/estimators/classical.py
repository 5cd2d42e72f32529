"""The classical estimators' shared base, and the two that wrap scikit-learn: ``svr`` and ``rf``.

Both regress (pitch, yaw) in radians (:mod:`gazebench.geometry`) from a feature of
:mod:`.features`, with the head pose's (pitch, yaw) appended when the training set has one, and
turn the prediction back into a unit gaze vector.

Checkpoints: ``save(path)`` writes one ``weights_only`` torch checkpoint at ``path`` (parameters
and every tensor-shaped state). The two scikit-learn models go inside it too, as the bytes of a
``skops.io`` file (a uint8 tensor), never as a pickle: ``load`` first checks that every object the
file names is one of the few scikit-learn, NumPy and builtin types this estimator writes
(:data:`SKLEARN_TYPES`), then lets skops rebuild the model with exactly that trusted list. Nothing
outside the checkpoint is read, so no path stored in a file is ever followed.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from gazebench.api import Estimator
from gazebench.geometry import pitchyaw_to_vector, vector_to_pitchyaw
from gazebench.io import load_state, save_state
from gazebench.types import EyeBatch

from .features import check_feature, extract, head_pose_matrix, resolve_seed

#: /2: the scikit-learn model is skops bytes inside the checkpoint (/1 was a joblib pickle beside it)
FORMAT = "gazebench-estimators/2"

#: skops node loaders that only rebuild data and trusted classes; any other (functions, methods,
#: operator.*, __reduce__-style constructors) is refused before skops sees the file
_SAFE_LOADERS = frozenset({"DictNode", "ListNode", "TupleNode", "JsonNode", "NdArrayNode",
                           "ObjectNode", "TreeNode", "TypeNode"})
_SAFE_BASIC_TYPES = frozenset({
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int",
    "builtins.float", "builtins.bool", "builtins.NoneType", "numpy.ndarray", "numpy.float64",
    "numpy.float32", "numpy.int64", "numpy.int32", "numpy.intp", "numpy.bool_", "numpy.bool"})


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def sklearn_types() -> frozenset[str]:
    """Every type an ``svr``/``rf`` checkpoint may name: their scikit-learn classes (named from the
    classes themselves, so a module move inside scikit-learn does not break loading) and plain data."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor
    from sklearn.tree._tree import Tree

    classes = (PCA, RandomForestRegressor, MultiOutputRegressor, Pipeline, StandardScaler, SVR,
               DecisionTreeRegressor, Tree)
    return _SAFE_BASIC_TYPES | {_type_name(c) for c in classes}


def _named_types(schema: Any, found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """(loader, "module.Class") of every node of a skops schema."""
    if isinstance(schema, dict):
        if "__class__" in schema or "__loader__" in schema:
            found.add((str(schema.get("__loader__")),
                       f"{schema.get('__module__')}.{schema.get('__class__')}"))
        for value in schema.values():
            _named_types(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _named_types(value, found)
    return found


def dump_sklearn(model: Any) -> torch.Tensor:
    """A fitted scikit-learn model as the bytes of a skops file, in a uint8 tensor."""
    import skops.io

    return torch.frombuffer(bytearray(skops.io.dumps(model)), dtype=torch.uint8).clone()


def load_sklearn(data: Any, where: str) -> Any:
    """Rebuild the model :func:`dump_sklearn` wrote; anything else is a one-line ``ValueError``.

    The schema is read as JSON first and every node must be a safe loader of a type in
    :func:`sklearn_types`; only then does skops load it, with that same list as ``trusted``.
    """
    import skops.io

    if not isinstance(data, torch.Tensor) or data.dtype != torch.uint8 or data.ndim != 1:
        raise ValueError(f"{where}: the scikit-learn model is not stored as skops bytes; "
                         "delete the checkpoint to have it rebuilt")
    raw = data.numpy().tobytes()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            schema = json.loads(z.read("schema.json"))
    except Exception as exc:
        raise ValueError(f"{where}: the scikit-learn model is not a readable skops file "
                         f"({type(exc).__name__}: {exc}); delete the checkpoint to have it rebuilt") from None
    trusted = sklearn_types()
    bad = sorted({t for loader, t in _named_types(schema, set())
                  if loader not in _SAFE_LOADERS or t not in trusted})
    if bad:
        raise ValueError(f"{where}: refusing to load a scikit-learn model naming untrusted type(s) "
                         f"{', '.join(bad[:5])}; delete the checkpoint to have it rebuilt")
    try:
        return skops.io.loads(raw, trusted=sorted(trusted))
    except Exception as exc:
        raise ValueError(f"{where}: the scikit-learn model could not be loaded ({type(exc).__name__}: "
                         f"{exc}); delete the checkpoint to have it rebuilt") from None


class FeatureEstimator(Estimator):
    """Base of the classical estimators: feature extraction, head pose, checkpoints.

    Subclasses implement :meth:`_fit` / :meth:`_predict` on design matrices, and list the
    tensor state they learn in :attr:`_state_keys` (saved in the checkpoint) and whether they
    keep a scikit-learn model in ``model_`` (saved in the checkpoint as skops bytes).
    """

    _state_keys: ClassVar[tuple[str, ...]] = ()
    _sklearn: ClassVar[bool] = False
    #: append the head pose to the feature (ALR and k-NN use it apart, to choose neighbours)
    _append_head_pose: ClassVar[bool] = True

    # --- design matrices ---------------------------------------------------------------------
    def _design(self, batch: EyeBatch, fitting: bool) -> np.ndarray:
        if not isinstance(batch, EyeBatch):
            raise ValueError(f"estimator {self._owner()!r} expects an EyeBatch, got {type(batch).__name__}")
        check_feature(self.feature, self._owner())
        prepared = self.prepare(batch)
        x = extract(self.feature, prepared.images.cpu())
        if fitting:
            self.uses_head_pose_ = bool(self.head_pose) and batch.head_pose is not None
        if self.uses_head_pose_ and self._append_head_pose:
            x = np.concatenate([x, head_pose_matrix(batch, self._owner())], 1)
        return x

    def _owner(self) -> str:
        return self.name or type(self).__name__

    def _check_fitted(self) -> None:
        if not hasattr(self, "uses_head_pose_"):
            raise RuntimeError(f"estimator {self._owner()!r} is not fitted: call fit() first")

    def fit(self, train: EyeBatch) -> "FeatureEstimator":
        if train.gaze is None:
            raise ValueError(f"estimator {self._owner()!r} needs a labelled training set (gaze is missing)")
        if len(train) < 2:
            raise ValueError(f"estimator {self._owner()!r} needs at least 2 training samples, got {len(train)}")
        x = self._design(train, fitting=True)
        self.seed_ = resolve_seed(self.seed)
        self._fit(x, train.gaze.to(torch.float64).cpu().numpy(), train)
        return self

    def predict(self, batch: EyeBatch) -> torch.Tensor:
        self._check_fitted()
        x = self._design(batch, fitting=False)
        out = torch.as_tensor(np.asarray(self._predict(x, batch)), dtype=torch.float64)
        return out.to(torch.float32)

    def _fit(self, x: np.ndarray, gaze: np.ndarray, train: EyeBatch) -> None:  # pragma: no cover
        raise NotImplementedError

    def _predict(self, x: np.ndarray, batch: EyeBatch) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # --- checkpoints -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        self._check_fitted()
        state: dict[str, Any] = {
            "format": FORMAT, "class": type(self).__qualname__, "params": self.get_params(),
            "uses_head_pose": self.uses_head_pose_, "seed": self.seed_,
            "state": {k: torch.as_tensor(np.asarray(getattr(self, k))) for k in self._state_keys},
        }
        if self._sklearn:
            state["sklearn_skops"] = dump_sklearn(self.model_)
        save_state(path, state)

    def load(self, path: str | Path) -> "FeatureEstimator":
        state = load_state(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("class") != type(self).__qualname__:
            found = state.get("format") if isinstance(state, dict) else None
            raise ValueError(f"checkpoint {path} was not written by {type(self).__qualname__}.save() of this "
                             f"version (format {found!r}, expected {FORMAT!r}); delete it to have it rebuilt")
        # the model first: a refused one leaves this estimator as it was
        if self._sklearn:
            self.model_ = load_sklearn(state.get("sklearn_skops"), f"checkpoint {path}")
        self.uses_head_pose_ = bool(state["uses_head_pose"])
        self.seed_ = int(state["seed"])
        for key, value in state["state"].items():
            setattr(self, key, value.numpy())
        return self


def angles(gaze: np.ndarray) -> np.ndarray:
    """Unit gaze vectors (N, 3) -> (pitch, yaw) (N, 2) radians."""
    return np.asarray(vector_to_pitchyaw(np.asarray(gaze, dtype=np.float64)))


def vectors(py: np.ndarray) -> np.ndarray:
    """(pitch, yaw) (N, 2) radians -> unit gaze vectors (N, 3)."""
    return np.asarray(pitchyaw_to_vector(np.asarray(py, dtype=np.float64)))


class SVREstimator(FeatureEstimator):
    """Support Vector Regression (RBF kernel), one SVR per angle, on standardised features.

    Pipeline: standardise each feature dimension, optionally PCA to ``pca`` dimensions, then a
    ``MultiOutputRegressor(SVR)`` predicting (pitch, yaw) in radians.

    Args:
        feature: ``hog`` (default), ``raw`` or ``grid15``.
        C, epsilon, gamma: scikit-learn's SVR parameters (epsilon in radians).
        pca: reduce to this many dimensions first (``None``: no PCA).
        head_pose: append the head pose (pitch, yaw) when the training set has it.
        seed: seed for PCA's solver (``None``: from torch's global generator).
    """

    param_ranges = {"C": (0.0, None), "epsilon": (0.0, None), "pca": (1, None)}

    _sklearn = True
    test_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, feature: str = "hog", C: float = 3.0, epsilon: float = 0.01,
                 gamma: str | float = "scale", pca: int | None = None, head_pose: bool = True,
                 seed: int | None = None) -> None:
        self.feature, self.C, self.epsilon, self.gamma = feature, C, epsilon, gamma
        self.pca, self.head_pose, self.seed = pca, head_pose, seed

    def _fit(self, x: np.ndarray, gaze: np.ndarray, train: EyeBatch) -> None:
        from sklearn.decomposition import PCA
        from sklearn.multioutput import MultiOutputRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVR

        if self.C <= 0 or self.epsilon < 0:
            raise ValueError(f"estimator 'svr': C must be > 0 and epsilon >= 0, got C={self.C}, epsilon={self.epsilon}")
        steps: list[Any] = [StandardScaler()]
        if self.pca:
            steps.append(PCA(n_components=min(int(self.pca), *x.shape), random_state=self.seed_))
        steps.append(MultiOutputRegressor(SVR(C=self.C, epsilon=self.epsilon, gamma=self.gamma)))
        self.model_ = make_pipeline(*steps).fit(x, angles(gaze))

    def _predict(self, x: np.ndarray, batch: EyeBatch) -> np.ndarray:
        return vectors(self.model_.predict(x))


class RandomForestEstimator(FeatureEstimator):
    """scikit-learn's RandomForestRegressor predicting (pitch, yaw) in radians.

    Args:
        feature: ``hog`` (default), ``raw`` or ``grid15``.
        n_estimators, max_features, min_samples_leaf: the forest's parameters.
        n_jobs: worker processes (the result does not depend on it).
        head_pose: append the head pose (pitch, yaw) when the training set has it.
        seed: the forest's ``random_state`` (``None``: from torch's global generator).
    """

    param_ranges = {"n_estimators": (1, None), "min_samples_leaf": (1, None)}

    _sklearn = True
    test_params: ClassVar[dict[str, Any]] = {"n_estimators": 5}

    def __init__(self, feature: str = "hog", n_estimators: int = 100, max_features: str | float | None = "sqrt",
                 min_samples_leaf: int = 1, n_jobs: int | None = None, head_pose: bool = True,
                 seed: int | None = None) -> None:
        self.feature, self.n_estimators, self.max_features = feature, n_estimators, max_features
        self.min_samples_leaf, self.n_jobs, self.head_pose, self.seed = min_samples_leaf, n_jobs, head_pose, seed

    def _fit(self, x: np.ndarray, gaze: np.ndarray, train: EyeBatch) -> None:
        from sklearn.ensemble import RandomForestRegressor

        if int(self.n_estimators) < 1:
            raise ValueError(f"estimator 'rf': n_estimators must be >= 1, got {self.n_estimators}")
        self.model_ = RandomForestRegressor(
            n_estimators=int(self.n_estimators), max_features=self.max_features,
            min_samples_leaf=int(self.min_samples_leaf), n_jobs=self.n_jobs,
            random_state=self.seed_).fit(x, angles(gaze))

    def _predict(self, x: np.ndarray, batch: EyeBatch) -> np.ndarray:
        return vectors(self.model_.predict(x))
