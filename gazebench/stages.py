"""The stages of ``gazebench run``, each a function with typed inputs and outputs.

:func:`gazebench.runner.run` chains them: plan -> load data -> masks -> fit or load each
component -> purify -> score -> record. They take a :class:`Context` (configuration, plugin
manager, device, cache, log) and plain values, so a future executor can run them as tasks.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Collection

from gazebench.cache import Cache, code_digest, default_cache_dir, fingerprint_batch
from gazebench.checks import MemoryBudget, check_output_dir, check_output_file
from gazebench.defaults import default_component, default_data
from gazebench.device import resolve_device, seed_everything
from gazebench.io import load_state, save_state
from gazebench.plugins import PluginManager
from gazebench.progress import Log, stage

if TYPE_CHECKING:
    from gazebench.runner import RunConfig
    from gazebench.types import EyeBatch


class RunError(Exception):
    """A problem with the run's configuration or data, reported in one line."""


@dataclass
class Context:
    """What every stage needs: the configuration and where work happens and is kept."""

    cfg: "RunConfig"
    pm: PluginManager
    log: Log
    device: str
    cache: Cache
    notes: list[str] = field(default_factory=list)
    budget: MemoryBudget = field(default_factory=MemoryBudget)

    def note(self, *lines: str | None) -> None:
        """Add record notes, each once."""
        self.notes += [n for n in lines if n and n not in self.notes]

    def params(self, name: str) -> dict[str, Any]:
        return dict(self.cfg.params.get(name, {}))


def build(pm: PluginManager, kind: str, name: str, params: dict[str, Any], device: str) -> Any:
    """Create a component, passing ``device`` when its constructor takes one."""
    kwargs = dict(params)
    factory = pm.spec(kind, name).load()
    try:
        accepts = "device" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts = False
    if accepts and "device" not in kwargs:
        kwargs["device"] = device
    return pm.create(kind, name, **kwargs)


# -- plan -------------------------------------------------------------------------------------

@dataclass
class Plan:
    """What the run will do, checked before any work: names resolved, purifiers built once."""

    trains: list[str]
    test: str
    estimators: list[str]
    purifiers: dict[str, Any]

    @property
    def need_masks(self) -> bool:
        return any(p.needs_masks for p in self.purifiers.values())

    @property
    def need_fit(self) -> bool:
        return any(p.needs_fit for p in self.purifiers.values())


def plan_run(cfg: "RunConfig", pm: PluginManager) -> tuple[Plan, Context, "RunConfig"]:
    """Resolve defaults and the device, check every name, build the purifiers; no data is read.

    Returns the plan, the context and the configuration with its defaults filled in (what the
    record says ran).
    """
    from gazebench.progress import stderr_log

    train, test = cfg.train, cfg.test
    if not train or not test:
        dtrain, dtest = default_data(pm)
        train, test = train or dtrain, test or dtest
    estimators = list(cfg.estimators) or [n for n in [default_component(pm, "estimator")] if n]
    purifiers = list(cfg.purifiers) or [n for n in [default_component(pm, "purifier")] if n]
    cfg = replace(cfg, train=train, test=test, estimators=estimators, purifiers=purifiers)
    trains = [train] if isinstance(train, str) else list(train)
    if not estimators:
        raise RunError("no estimator given: pass --estimator NAME (see `gazebench plugins`)")
    if not trains:
        raise RunError("no training set given: pass --train NAME (see `gazebench plugins --kind dataset`)")
    segs = [n for n in (cfg.masks, cfg.pupil_segmenter) if n and n not in ("auto", "dataset", "landmarks")]
    for kind, names in (("estimator", estimators), ("purifier", purifiers), ("segmenter", segs),
                        ("dataset", trains + [test] + ([cfg.content] if cfg.content else []))):
        for n in names:
            pm.check_params(kind, n, cfg.params.get(n, {}))  # unknown names, bad -o values: before any work
    check_param_names(pm, cfg.params)
    check_outputs(cfg)
    ctx = Context(cfg, pm, stderr_log, resolve_device(cfg.device), Cache(cfg.cache_dir, enabled=cfg.cache))
    built = {n: build(pm, "purifier", n, ctx.params(n), ctx.device) for n in purifiers}
    # the test, its oracle and one purified copy per purifier stay in memory together
    ctx.budget.reserve((cfg.n_test or 0) * (len(built) + 1), cfg.size, "the purified test sets")
    return Plan(trains, test, estimators, built), ctx, cfg


def check_param_names(pm: PluginManager, params: dict[str, dict[str, Any]]) -> None:
    """Every ``-o NAME.PARAM`` names a registered component (a typo is an error, not ignored)."""
    for name in params:
        if not any(name in pm.registry(kind) for kind in ("dataset", "segmenter", "purifier", "estimator")):
            raise RunError(f"-o {name}.{next(iter(params[name]), 'PARAM')}=...: no component is named {name!r} "
                           "(see `gazebench plugins`)")


def check_outputs(cfg: "RunConfig") -> None:
    """Every place the run will write, checked before any work (a bad one never costs a finished run)."""
    check_output_file(cfg.out, "--out", dir_ok=True)
    check_output_dir(cfg.plots, "--plots")
    if cfg.cache:
        where = cfg.cache_dir or default_cache_dir()
        check_output_dir(where, "--cache-dir" if cfg.cache_dir else "the cache folder ($GAZEBENCH_CACHE or ~/.cache)")


# -- load data --------------------------------------------------------------------------------

@dataclass
class TestData:
    """The test set, its paired clean renders (the oracle) and the purifiers' unlabelled content."""

    test: "EyeBatch"
    oracle: "EyeBatch | None"
    content: "EyeBatch | None"
    info: dict[str, Any]


def open_dataset(pm: PluginManager, name: str, split: str, *, size: tuple[int, int] | None,
                 limit: int | None = None, seed: int = 0, root: str | None = None,
                 params: dict[str, Any] | None = None, device: str = "cpu") -> tuple[Any, Any]:
    """Build dataset ``name`` and open ``split`` (nothing read yet); returns (dataset, EyeData).

    A missing split or an empty selection is a one-line :class:`RunError`.
    """
    dataset = build(pm, "dataset", name, dict(params or {}), device)
    if split not in dataset.splits:
        raise RunError(f"dataset {name!r} has no split {split!r} (it has {', '.join(dataset.splits)})")
    data = dataset.load(split, root=root, size=None if size is None else tuple(size), limit=limit, seed=seed)
    if len(data) == 0:
        raise RunError(f"dataset {name!r} split {split!r} is empty")
    return dataset, data


def open_split(ctx: Context, name: str, split: str, root: str | None, limit: int | None,
               params: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """:func:`open_dataset` with the run's size, seed, device and ``-o`` parameters."""
    return open_dataset(ctx.pm, name, split, size=ctx.cfg.size, limit=limit, seed=ctx.cfg.seed, root=root,
                        params=ctx.params(name) if params is None else params, device=ctx.device)


def read_split(ctx: Context, name: str, split: str, root: str | None,
               limit: int | None) -> tuple[Any, "EyeBatch", dict[str, Any]]:
    """:func:`open_split`, then read it into memory; returns (dataset, batch, info)."""
    dataset, data = open_split(ctx, name, split, root, limit)
    ctx.budget.reserve(len(data), ctx.cfg.size, f"dataset {name!r} split {split!r}")
    with stage(ctx.log, f"loading {len(data)} {split} samples ({name})"):
        batch = data.take()
    return dataset, batch, {**data.info, "n": len(batch)}


def load_test(ctx: Context, plan: Plan) -> TestData:
    """The labelled test set, the oracle where the test set is paired, and the content set."""
    cfg = ctx.cfg
    test_ds, test, test_info = read_split(ctx, plan.test, "test", cfg.test_root, cfg.n_test)
    if test.gaze is None:
        raise RunError(f"dataset {plan.test!r} has no gaze labels: it cannot be a test set")
    info: dict[str, Any] = {"test": test_info, "train": {}}
    oracle = None
    paired = getattr(test_ds, "paired_with", None)
    if paired and test.pair is not None:
        # the oracle must be the same eyes: the test set dictates the paired set's latent parameters
        params = {**ctx.params(paired), **test_ds.paired_params()}
        _, paired_data = open_split(ctx, paired, "test", cfg.test_root, None, params)
        ctx.budget.reserve(len(test), cfg.size, f"the oracle ({paired!r})")
        oracle = paired_data.batch(test.pair.tolist())
        info["oracle"] = {**paired_data.info, "n": len(oracle)}
    content = None
    if plan.need_fit:
        name, root = (cfg.content, cfg.content_root) if cfg.content else (plan.test, cfg.test_root)
        splits = getattr(ctx.pm.spec("dataset", name).load(), "splits", ())
        split = "unlabelled" if "unlabelled" in splits or not splits else splits[0]
        _, content, info["unlabelled"] = read_split(ctx, name, split, root, cfg.n_unlabelled)
        content = content.without_labels()
    return TestData(test, oracle, content, info)


def load_train(ctx: Context, name: str, n_trains: int) -> tuple["EyeBatch", dict[str, Any]]:
    """A labelled training set (``--train-root`` applies when there is only one)."""
    root = ctx.cfg.train_root if n_trains == 1 else None
    _, train, info = read_split(ctx, name, "train", root, ctx.cfg.n_train)
    if train.gaze is None:
        raise RunError(f"dataset {name!r} has no gaze labels: it cannot train an estimator")
    return train, info


# -- masks ------------------------------------------------------------------------------------

class Segmenters:
    """Segmenters chosen and fitted once, shared by the masks and the pupil stages (and by plugin
    commands that need masks: ``Segmenters(pm, params, device, log)``)."""

    def __init__(self, pm: PluginManager, params: dict[str, dict[str, Any]], device: str, log: Log) -> None:
        self.pm, self.params, self.device, self.log = pm, params, device, log
        self._fitted: dict[str, Any] = {}

    def best(self) -> str | None:
        """The registered segmenter with the highest ``priority`` (ties: alphabetical), or None."""
        specs = list(self.pm.registry("segmenter"))
        if not specs:
            return None
        return min(specs, key=lambda s: (-getattr(s.load(), "priority", 0), s.name)).name

    def get(self, name: str, train: "EyeBatch", why: str) -> Any:
        """Segmenter ``name``, fitted on the first training set that asks (it needs masks)."""
        if name not in self._fitted:
            seg = build(self.pm, "segmenter", name, dict(self.params.get(name, {})), self.device)
            if seg.needs_fit:
                if train.masks is None:
                    raise RunError(f"segmenter {name!r} needs training masks ({why}), but the training set has none")
                with stage(self.log, f"fitting segmenter {name}"):
                    seg.fit(train)
            self._fitted[name] = seg
        return self._fitted[name]

    def fill(self, batches: dict[str, "EyeBatch | None"], masks: str, train: "EyeBatch",
             keep: Collection[str] = ("style",)) -> tuple[dict[str, "EyeBatch | None"], str]:
        """``batches`` with ``masks`` filled: the datasets' own (``auto``/``dataset``/``landmarks``),
        else those of segmenter ``masks`` (``auto``: the best one) fitted on ``train``.

        A segmenter named explicitly segments every batch except those in ``keep`` (the style
        set, whose renderer masks the paper uses), even where a dataset has masks of its own: the
        real-side images (test, content) then get the masks a real deployment would have, not the
        renderer's ground truth. Returns the batches and where the masks came from (``dataset``
        or ``segmenter:NAME``)."""
        source = "dataset" if masks == "landmarks" else masks  # the dataset's own landmark masks
        named = source not in ("auto", "dataset")
        if source in ("auto", "dataset"):
            lacking = [k for k, b in batches.items() if b is not None and b.masks is None]
            if not lacking:
                return batches, "dataset"
            names = self.pm.registry("segmenter").names()
            if source == "dataset" or not names:
                raise RunError(f"a purifier needs region masks and the {'/'.join(lacking)} data has none; "
                               f"choose a segmenter with --masks NAME (registered: {', '.join(names) or 'none'})")
            source = self.best()
        seg = self.get(source, train, "for the purifiers' masks")
        own = (lambda k, b: b.masks is not None and (not named or k in keep))
        out = {k: (b if b is None or own(k, b) else b.replace(masks=seg.segment(b.images).cpu()))
               for k, b in batches.items()}
        return out, f"segmenter:{source}"


@dataclass
class PurifierInputs:
    """What the purifiers see for one training set: test and content images with masks, and style."""

    test: "EyeBatch"
    content: "EyeBatch | None"
    style: "EyeBatch"
    masks_from: str | None = None


def supply_masks(ctx: Context, plan: Plan, data: TestData, train: "EyeBatch",
                 segmenters: Segmenters) -> PurifierInputs:
    """Fill the ``masks`` of the purifiers' inputs from their datasets or a segmenter."""
    if not plan.need_masks:
        return PurifierInputs(data.test, data.content, train)
    out, source = segmenters.fill({"test": data.test, "content": data.content, "style": train}, ctx.cfg.masks, train)
    if source == "dataset":
        # the headline figures depend on it: a rendered stand-in's masks are its ground truth
        ctx.note(f"masks: the purifiers read the test and content sets' own masks ({plan.test}); for a "
                 "rendered stand-in for real eyes these are the renderer's ground truth, which real eyes "
                 "lack: --masks unet gives them a segmenter's, as real eyes would get")
    return PurifierInputs(out["test"], out["content"], out["style"], source)


# -- fit or load ------------------------------------------------------------------------------

def fit_or_load(ctx: Context, kind: str, component: Any, key: str, fit: Callable[[], Any], what: str
                ) -> dict[str, Any]:
    """Load ``component``'s fitted state from the cache entry ``key``, else call ``fit`` and save it.

    A bad value (often from ``-o``) is reported naming the component and the options given.
    Returns ``{"fit_seconds", "fit_cached"}``.
    """
    name = component.name
    ckpt = ctx.cache.path(f"{kind}s", name, key)
    if ctx.cache.hit(ckpt):
        component.load(ckpt)
        ctx.log(f"{kind} {name}: fitted state from cache {ckpt}")
        return {"fit_seconds": None, "fit_cached": True}
    with stage(ctx.log, f"fitting {kind} {name} {what}") as st:
        try:
            fit()
        except (ValueError, TypeError) as exc:
            opts = ctx.cfg.params.get(name)
            hint = f" (options given: {', '.join(f'{name}.{k}={v!r}' for k, v in opts.items())})" if opts else ""
            raise RunError(f"{kind} {name!r} could not be fitted: {exc}{hint}") from exc
    if ctx.cache.enabled:
        component.save(ckpt)
    return {"fit_seconds": st["seconds"], "fit_cached": False}


# -- purify -----------------------------------------------------------------------------------

def purify_test(ctx: Context, probe: Any, style_name: str, inputs: PurifierInputs
                ) -> tuple["EyeBatch", dict[str, Any]]:
    """Fit (or load) one purifier on this training set's style and purify the test set."""
    name = probe.name
    purifier = probe.clone()
    seed_everything(ctx.cfg.seed)
    stats: dict[str, Any] = {"purifier": name, "style": style_name if purifier.needs_fit else None,
                             "component": purifier.describe(), "noop": bool(purifier.noop),
                             "fit_seconds": None, "fit_cached": False, "purify_cached": False}
    fit_key, out_key = purifier_keys(ctx, purifier, inputs)
    if purifier.needs_fit:
        stats.update(fit_or_load(ctx, "purifier", purifier, fit_key, lambda: purifier.fit(inputs.content, inputs.style),
                                 f"(style {style_name})"))
        stats["objective_curve"] = getattr(purifier, "objective_curve", lambda: None)()  # report plots
        # per-step objective terms where the purifier records them: a purifier dominated by TV or
        # content is seen, not guessed
        stats["objective"] = getattr(purifier, "objective_trace", lambda: None)()
    test = inputs.test
    out_path = ctx.cache.path("purified", name, out_key, ".pt")
    if ctx.cache.hit(out_path):
        out = load_state(out_path)["images"]
        stats.update(purify_cached=True, purify_seconds_per_image=None)
        ctx.log(f"purifier {name}: purified test set from cache {out_path}")
    else:
        with stage(ctx.log, f"purifying {len(test)} test images with {name}") as st:
            out = purifier.purify(test.without_labels())
        stats["purify_seconds_per_image"] = st["seconds"] / len(test)
    check_purified(name, out, test.images)
    if ctx.cache.enabled and not stats["purify_cached"]:
        save_state(out_path, {"images": out.cpu().contiguous()})
    ctx.note(*purifier.record_notes())
    return test.replace(images=out.cpu()), stats


def purifier_keys(ctx: Context, purifier: Any, inputs: PurifierInputs) -> tuple[str, str]:
    """The cache keys of a purifier's fitted state and of the test set it purifies: (fit, purified).

    The fit key hashes the component, its code, the content and style data, the seed and the
    device; the purified key adds the test images. A task plan (:mod:`gazebench.plan`) keys its
    tasks with these, so they must stay the keys :func:`purify_test` reads and writes.
    """
    fit_fp = (fingerprint_batch(inputs.content), fingerprint_batch(inputs.style)) if purifier.needs_fit else None
    fit_key = ctx.cache.key("purifier", purifier.describe(), code_digest(purifier), fit_fp, ctx.cfg.seed, ctx.device)
    return fit_key, ctx.cache.key(fit_key, fingerprint_batch(inputs.test))


def check_purified(name: str, out: Any, like: Any) -> None:
    """The purifier contract: uint8, the shape of the input; a one-line error otherwise."""
    import torch

    if not isinstance(out, torch.Tensor) or out.shape != like.shape or out.dtype != torch.uint8:
        raise RunError(f"purifier {name!r} returned {getattr(out, 'dtype', type(out))} "
                       f"{tuple(getattr(out, 'shape', ()))}; expected uint8 {tuple(like.shape)}")


def pupil_shifts(ctx: Context, data: TestData, train: "EyeBatch", purified: dict[str, "EyeBatch"],
                 stats: dict[str, dict[str, Any]], segmenters: Segmenters) -> None:
    """Does purification keep the pupil? Fills each purifier's ``stats`` with the fields of
    :data:`gazebench.metrics.PUPIL_ROW_FIELDS` (the logic is in :mod:`gazebench.metrics`).

    - test set with true pupil centres and masks: a fixed locator's error against the truth on
      raw, purified and oracle images (``pupil_err_*_px``; the oracle row is the locator's floor);
    - test set without true centres, or a segmenter named with ``--pupil-segmenter``: the
      segmenter's raw -> purified pupil shift and its floor on a photometric control
      (``pupil_seg_shift_px``, ``pupil_seg_floor_px``);
    - test masks: the old darkness-weighted centroid shift raw -> purified (``pupil_shift_px``),
      biased under relighting (a secondary column).
    """
    from gazebench import metrics

    source, test, oracle = ctx.cfg.pupil_segmenter, data.test, data.oracle
    if not source:
        return
    if test.masks is not None and test.pupil is not None:
        versions = {"raw": test.images, **({"oracle": oracle.images} if oracle is not None else {}),
                    **{p: b.images for p, b in purified.items()}}
        errs = metrics.pupil_locator_errors(versions, test.masks, test.pupil)
        for pname in purified:
            stats[pname].update(metrics.run_pupil_fields(errs, pname))
            stats[pname]["pupil_err_purified_std_px"] = errs[pname]["std"]
        ctx.note("pupil error: the fixed locator (darkness-weighted centroid in the true iris masks) "
                 "vs the true pupil centre, on raw / purified / oracle (the oracle is its floor)")
    if test.masks is not None:
        raw_c = metrics.pupil_centres(test.images, test.masks)
        for pname, batch in purified.items():
            d = metrics.summarize(metrics.centre_distances(metrics.pupil_centres(batch.images, test.masks), raw_c))
            stats[pname].update(pupil_found=d["found"], pupil_shift_px=d["mean"], pupil_shift_std_px=d["std"])
        ctx.note("pupil shift (secondary, biased under relighting): darkness-weighted centroid raw vs purified")
    if source != "auto" or test.pupil is None:
        name = segmenters.best() if source == "auto" else source
        if name is None or name not in ctx.pm.registry("segmenter"):
            ctx.note(f"segmenter pupil shift not measured: segmenter "
                     f"{source if source != 'auto' else 'of any kind'!r} is not registered")
            return
        try:
            seg = segmenters.get(name, train, "for the pupil shift")
        except RunError as exc:
            ctx.note(f"segmenter pupil shift not measured: {exc}")
            return
        raw_l = seg.segment(test.images).cpu()
        floor = metrics.summarize(metrics.segmenter_shift(
            raw_l, seg.segment(metrics.photometric_control(test.images)).cpu()))["mean"]
        for pname, batch in purified.items():
            d = metrics.summarize(metrics.segmenter_shift(raw_l, seg.segment(batch.images).cpu()))
            stats[pname].update(pupil_seg_shift_px=d["mean"], pupil_seg_floor_px=floor)
        ctx.note(f"segmenter pupil shift: pupils segmenter {name!r} finds, raw vs purified; floor: "
                 "the same on a fixed photometric control (gain, gamma, contrast)")


# -- estimators and scores --------------------------------------------------------------------

def fit_estimator(ctx: Context, name: str, train: "EyeBatch", train_name: str) -> tuple[Any, dict[str, Any]]:
    """Build, then fit (or load) estimator ``name`` on ``train``."""
    seed_everything(ctx.cfg.seed)
    est = build(ctx.pm, "estimator", name, ctx.params(name), ctx.device)
    stats: dict[str, Any] = {"estimator": name, "train": train_name, "component": est.describe(),
                             "floor": bool(getattr(est, "floor", False))}
    key = estimator_key(ctx, est, train)
    stats.update(fit_or_load(ctx, "estimator", est, key, lambda: est.fit(train),
                             f"on {len(train)} {train_name} samples"))
    return est, stats


def estimator_key(ctx: Context, est: Any, train: "EyeBatch") -> str:
    """The cache key of an estimator's fitted state: component, code, training data, seed, device."""
    return ctx.cache.key("estimator", est.describe(), code_digest(est), fingerprint_batch(train),
                         ctx.cfg.seed, ctx.device)
