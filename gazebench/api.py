"""The four component interfaces every plugin implements: Dataset, Segmenter, Purifier, Estimator.

This module imports no torch at import time so that listing plugins stays fast; the types in
signatures live in :mod:`gazebench.types`.

All components follow scikit-learn's contract: ``__init__`` takes keyword arguments only and
stores them unchanged as attributes of the same name (so :meth:`Component.get_params` can
report them in records); ``fit`` returns ``self``; state learned by ``fit`` lives in attributes
ending in ``_``.
"""

from __future__ import annotations

import abc
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch

    from gazebench.types import EyeBatch, EyeData


class Component:
    """Shared behaviour: parameters, metadata and the registered name."""

    #: set by the plugin manager to the registered name
    name: str = ""
    #: keyword arguments that make the component fast enough for the conformance kit and the
    #: test suite (tiny networks, few iterations); like timm's ``test_*`` models
    test_params: ClassVar[dict[str, Any]] = {}
    #: where a command needs a component of this kind and none was named, the registered one with
    #: the highest positive rank is used (``gazebench.defaults``); 0: never a default
    default_rank: ClassVar[int] = 0
    #: inclusive numeric bounds of constructor parameters, ``{name: (low, high)}`` (``None``: open),
    #: checked with the ``-o`` values before any work (``gazebench.params``)
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their current values (scikit-learn's ``get_params``)."""
        params = {}
        for p in inspect.signature(type(self).__init__).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            params[p.name] = getattr(self, p.name, p.default)
        return params

    def describe(self) -> dict[str, Any]:
        """What a record says about this component: name, class and parameters."""
        return {"name": self.name, "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "params": _jsonable(self.get_params())}

    def record_notes(self) -> list[str]:
        """One-line notes a record should carry about this component as configured (e.g. which
        loss-network weights were found); none by default."""
        return []

    def clone(self) -> "Component":
        """An unfitted copy with the same parameters and registered name (scikit-learn's ``clone``)."""
        twin = type(self)(**self.get_params())
        twin.name = self.name
        return twin


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


class Dataset(Component, abc.ABC):
    """A source of eye samples, synthetic or real, labelled or not.

    Class attributes describe the data: ``labelled`` (has gaze), ``has_masks`` (has region
    maps), ``default_size`` ((H, W) the data comes in), ``gray`` (single channel).
    """

    labelled: ClassVar[bool] = True
    has_masks: ClassVar[bool] = False
    default_size: ClassVar[tuple[int, int]] = (36, 60)
    gray: ClassVar[bool] = False
    #: splits ``load`` accepts; "train"/"test" are labelled, "unlabelled" is for purifier fitting
    splits: ClassVar[tuple[str, ...]] = ("train", "test", "unlabelled")
    #: name of a dataset that renders the *same* eyes in another style; ``EyeBatch.pair`` indexes
    #: its samples of the same split. The runner scores those as the oracle of a perfect purifier.
    paired_with: ClassVar[str | None] = None
    #: the data lies on disk: ``load`` needs ``root`` (or ``$GAZEBENCH_DATA/<name>``); the
    #: conformance suite cannot check such a dataset without files and leaves it to its own tests
    needs_root: ClassVar[bool] = False

    def paired_params(self) -> dict[str, Any]:
        """Constructor parameters for the :attr:`paired_with` dataset that make it render the *same*
        eyes as this one (the runner builds the oracle with them, overriding the user's ``-o``)."""
        return {}

    @abc.abstractmethod
    def load(self, split: str = "train", *, root: str | Path | None = None,
             size: tuple[int, int] | None = None, limit: int | None = None,
             seed: int = 0) -> "EyeData":
        """Return the samples of ``split`` (lazy where the data is big).

        Args:
            split: one of :attr:`splits`.
            root: where the data lies on disk (``None``: the dataset's default, e.g.
                ``$GAZEBENCH_DATA/<name>``; ignored by generated data).
            size: (H, W) to deliver images at; ``None`` for :attr:`default_size`.
            limit: at most this many samples (``None``: all).
            seed: seed for any sampling or generation.
        """


class Segmenter(Component, abc.ABC):
    """Turns eye images into region label maps (0 skin, 1 sclera, 2 iris, 3 pupil).

    ``priority``: when the runner must choose a segmenter itself (``--masks auto`` on data without
    masks), it takes the registered one with the highest priority.
    """

    needs_fit: ClassVar[bool] = False
    priority: ClassVar[int] = 0

    def fit(self, data: "EyeBatch") -> "Segmenter":
        """Learn from images with masks (no-op by default); returns ``self``."""
        return self

    @abc.abstractmethod
    def segment(self, images: "torch.Tensor") -> "torch.Tensor":
        """uint8 (N, C, H, W) -> uint8 (N, H, W) label maps."""


class Purifier(Component, abc.ABC):
    """Translates (real) eye images into the style of (synthetic) ones, keeping the eye geometry.

    ``needs_fit``: :meth:`fit` learns something (a feed-forward network); ``needs_masks``:
    :meth:`purify` uses ``batch.masks`` (the runner supplies them from the dataset or a
    segmenter).
    """

    needs_fit: ClassVar[bool] = False
    needs_masks: ClassVar[bool] = False
    #: returns its input unchanged: the raw reference, left out of plots of purified images
    noop: ClassVar[bool] = False
    #: ``gazebench speed`` reports every purifier's speed-up against each baseline it times
    speed_baseline: ClassVar[bool] = False
    #: for optimisation-based purifiers (Gatys): the constructor parameter that counts the
    #: per-image iterations; ``gazebench speed`` times two small counts and projects
    iteration_param: ClassVar[str | None] = None
    #: keyword arguments that make ``fit`` trivially short without changing what ``purify`` costs
    #: (one training step, no progress bar): ``gazebench speed`` times ``purify`` only
    timing_params: ClassVar[dict[str, Any]] = {}

    def speed_variants(self) -> dict[str, dict[str, Any]]:
        """Configurations ``gazebench speed`` times as separate, labelled rows: label -> constructor
        parameters laid over this purifier's. The first is the purifier's row in the speed-up
        columns. Parameters the user set with ``-o`` win over a variant's; empty (default): one row.

        Speed knobs are plain constructor parameters: a purifier whose constructor takes
        ``dtype`` (``"float32"``, ``"bfloat16"``, ``"float16"``), ``channels_last`` and ``compile``
        (bools) gets them from ``gazebench speed --dtype/--channels-last/--compile`` and must honour
        them in :meth:`purify` (``run``/``purify`` pass them with ``-o NAME.dtype=bf16``).
        """
        return {}

    def fit(self, content: "EyeBatch", style: "EyeBatch") -> "Purifier":
        """Learn to purify ``content`` images into the style of ``style`` images; returns ``self``."""
        return self

    def objective_curve(self) -> list[list[float]] | None:
        """The last fit's objective as ``[iteration, value]`` pairs (a few hundred at most), kept in
        the run record's purifier stats for the report's plots; ``None``: nothing recorded."""
        return None

    @abc.abstractmethod
    def purify(self, batch: "EyeBatch") -> "torch.Tensor":
        """Purified images: uint8, the same shape as ``batch.images`` (any H x W, 1 or 3 channels)."""

    def save(self, path: str | Path) -> None:
        """Write what :meth:`fit` learned (nothing by default)."""
        from gazebench.io import save_state

        save_state(path, {"class": type(self).__qualname__, "params": self.get_params()})

    def load(self, path: str | Path) -> "Purifier":
        """Read what :meth:`save` wrote; returns ``self``."""
        from gazebench.io import load_state

        load_state(path)
        return self


class Estimator(Component, abc.ABC):
    """Predicts a 3D gaze vector from an eye image (and head pose, pupil, ... where it uses them).

    ``input_size`` (H, W) and ``gray`` say what the estimator wants; :meth:`prepare` converts a
    batch accordingly and every built-in calls it first.
    """

    input_size: ClassVar[tuple[int, int]] = (36, 60)
    gray: ClassVar[bool] = True
    #: a constant prediction that ignores the image (the floor any estimator must beat): records
    #: say so, tables mark it and plots leave its panel out unless asked
    floor: ClassVar[bool] = False

    def prepare(self, batch: "EyeBatch") -> "EyeBatch":
        """The batch at :attr:`input_size`, gray when :attr:`gray`."""
        from gazebench.types import resize_batch, to_gray

        if self.gray and batch.channels != 1:
            batch = batch.replace(images=to_gray(batch.images))
        return resize_batch(batch, tuple(self.input_size))

    @abc.abstractmethod
    def fit(self, train: "EyeBatch") -> "Estimator":
        """Learn from a labelled batch (``train.gaze`` is set); returns ``self``."""

    @abc.abstractmethod
    def predict(self, batch: "EyeBatch") -> "torch.Tensor":
        """float32 (N, 3) unit gaze vectors; ``batch.gaze`` is ``None`` here."""

    @abc.abstractmethod
    def save(self, path: str | Path) -> None:
        """Write the fitted state."""

    @abc.abstractmethod
    def load(self, path: str | Path) -> "Estimator":
        """Read what :meth:`save` wrote into this (identically constructed) instance; returns ``self``."""


INTERFACES: dict[str, type] = {"dataset": Dataset, "segmenter": Segmenter,
                               "purifier": Purifier, "estimator": Estimator}


def missing_methods(kind: str, obj: Any) -> list[str]:
    """Names of interface methods that ``obj`` lacks or leaves abstract (duck typing allowed)."""
    base = INTERFACES[kind]
    required = [n for n, v in vars(base).items() if callable(v) and not n.startswith("_")
                and n not in ("get_params", "describe", "prepare", "paired_params", "objective_curve",
                              "speed_variants")]
    missing = []
    for n in required:
        attr = getattr(obj, n, None)
        if attr is None or not callable(attr) or getattr(attr, "__isabstractmethod__", False):
            missing.append(n)
    return missing
