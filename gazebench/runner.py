"""The experiment pipeline behind ``gazebench run`` (DESIGN.md, "The flow of one run").

train set (labelled) -> Estimator.fit; unlabelled real-side set + train set -> Purifier.fit;
test set -> Purifier.purify; Estimator.predict on raw, purified and (where the test set is paired
with a clean rendering of the same eyes) oracle images -> angular errors -> a record.
"""

from __future__ import annotations

import inspect
import random
import shlex
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from gazebench.cache import Cache, code_digest, fingerprint_batch
from gazebench.io import load_state, save_state
from gazebench.plugins import PluginError, PluginManager, get_plugin_manager
from gazebench.results import SCHEMA_RUN, environment, utc_now, write_record


class RunError(Exception):
    """A problem with the run's configuration or data, reported in one line."""


@dataclass
class RunConfig:
    """Every option of a run; recorded verbatim in the record's ``config``."""

    train: str | list[str] = "toy"
    test: str = "toy-wild"
    estimators: list[str] = field(default_factory=lambda: ["mean"])
    purifiers: list[str] = field(default_factory=lambda: ["identity"])
    masks: str = "auto"
    size: tuple[int, int] = (36, 60)
    n_train: int | None = 1000
    n_test: int | None = 200
    n_unlabelled: int | None = 200
    seed: int = 0
    device: str = "auto"
    train_root: str | None = None
    test_root: str | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    out: str | None = None
    command: str = ""
    cache: bool = True
    cache_dir: str | None = None
    plots: str | None = None
    pupil_segmenter: str | None = "auto"


def resolve_device(device: str) -> str:
    """``auto`` -> cuda, then mps, then cpu; anything else is checked and returned."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RunError("--device mps: MPS is not available on this machine; use --device cpu or auto")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise RunError(f"--device {device!r}: expected auto, cpu, mps, cuda or cuda:N")
    return device


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


Progress = Callable[[str], Any]


@contextmanager
def _stage(log: Progress, text: str) -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    log(f"{text} ...")
    t0 = time.perf_counter()
    yield out
    out["seconds"] = time.perf_counter() - t0
    log(f"{text}: done in {out['seconds']:.1f} s")


def _load(pm: PluginManager, name: str, split: str, cfg: RunConfig, root: str | None,
          limit: int | None, device: str) -> tuple[Any, Any]:
    dataset = build(pm, "dataset", name, cfg.params.get(name, {}), device)
    if split not in dataset.splits:
        raise RunError(f"dataset {name!r} has no split {split!r} (it has {', '.join(dataset.splits)})")
    data = dataset.load(split, root=root, size=tuple(cfg.size), limit=limit, seed=cfg.seed)
    if len(data) == 0:
        raise RunError(f"dataset {name!r} split {split!r} is empty")
    return dataset, data


def _fit_with_context(kind: str, name: str, cfg: RunConfig, fit: Callable[[], Any]) -> None:
    """Run ``fit``; a bad value (often from ``-o``) is reported naming the component and its options."""
    try:
        fit()
    except (ValueError, TypeError) as exc:
        opts = cfg.params.get(name)
        hint = f" (options given: {', '.join(f'{name}.{k}={v!r}' for k, v in opts.items())})" if opts else ""
        raise RunError(f"{kind} {name!r} could not be fitted: {exc}{hint}") from exc


def _check_purified(name: str, out: Any, like: Any) -> None:
    import torch

    if not isinstance(out, torch.Tensor) or out.shape != like.shape or out.dtype != torch.uint8:
        raise RunError(f"purifier {name!r} returned {getattr(out, 'dtype', type(out))} "
                       f"{tuple(getattr(out, 'shape', ()))}; expected uint8 {tuple(like.shape)}")


def run(cfg: RunConfig, *, pm: PluginManager | None = None, log: Progress | None = None) -> dict[str, Any]:
    """Run the pipeline for ``cfg`` and return the record (also written to disk and handed to plugins).

    Each training set gives its own rows: estimators are fitted on it and purifiers take their
    style from it; the test set, its masks and the unlabelled content set are loaded once.
    """
    import torch

    from gazebench.geometry import angular_error_deg, error_summary
    from gazebench.metrics import PUPIL_ROW_FIELDS
    from gazebench.types import EyeBatch

    pm = pm or get_plugin_manager()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    started = utc_now()
    device = resolve_device(cfg.device)
    trains = [cfg.train] if isinstance(cfg.train, str) else list(cfg.train)
    if not cfg.estimators:
        raise RunError("no estimator given: pass --estimator NAME (see `gazebench plugins`)")
    if not trains:
        raise RunError("no training set given: pass --train NAME (see `gazebench plugins --kind dataset`)")
    for kind, names in (("estimator", cfg.estimators), ("purifier", cfg.purifiers), ("dataset", trains + [cfg.test])):
        for n in names:
            pm.spec(kind, n)  # fail before any work on an unknown name

    test_ds, test_data = _load(pm, cfg.test, "test", cfg, cfg.test_root, cfg.n_test, device)
    with _stage(log, f"loading {len(test_data)} test samples ({cfg.test})"):
        test = test_data.take()
    if test.gaze is None:
        raise RunError(f"dataset {cfg.test!r} has no gaze labels: it cannot be a test set")
    datasets: dict[str, Any] = {"test": {**test_data.info, "n": len(test)}, "train": {}}

    oracle: EyeBatch | None = None
    paired = getattr(test_ds, "paired_with", None)
    if paired and test.pair is not None:
        # the oracle must be the same eyes: the test set dictates the paired set's latent parameters
        pcfg = replace(cfg, params={**cfg.params, paired: {**cfg.params.get(paired, {}), **test_ds.paired_params()}})
        _, paired_data = _load(pm, paired, "test", pcfg, cfg.test_root, None, device)
        oracle = paired_data.batch(test.pair.tolist())
        datasets["oracle"] = {**paired_data.info, "n": len(oracle)}

    probe = {name: build(pm, "purifier", name, cfg.params.get(name, {}), device) for name in cfg.purifiers}
    need_masks = any(p.needs_masks for p in probe.values())
    need_fit = any(p.needs_fit for p in probe.values())
    content = None
    if need_fit:
        _, content_data = _load(pm, cfg.test, "unlabelled", cfg, cfg.test_root, cfg.n_unlabelled, device)
        content = content_data.take().without_labels()
        datasets["unlabelled"] = {**content_data.info, "n": len(content)}

    cache = Cache(cfg.cache_dir, enabled=cfg.cache)
    rows: list[dict[str, Any]] = []
    purifier_stats: list[dict[str, Any]] = []
    estimator_stats: list[dict[str, Any]] = []
    notes: list[str] = []
    masks_from = None
    first_purified: dict[str, EyeBatch] = {}
    raw_test = test
    for tname in trains:
        root = cfg.train_root if len(trains) == 1 else None
        _, train_data = _load(pm, tname, "train", cfg, root, cfg.n_train, device)
        with _stage(log, f"loading {len(train_data)} training samples ({tname})"):
            train = train_data.take()
        if train.gaze is None:
            raise RunError(f"dataset {tname!r} has no gaze labels: it cannot train an estimator")
        datasets["train"][tname] = {**train_data.info, "n": len(train)}

        test_t, content_t, style = raw_test, content, train
        if need_masks:
            supplied, masks_from = _supply_masks(pm, cfg, device, train,
                                                 {"test": raw_test, "content": content, "style": train}, log)
            test_t, content_t, style = supplied["test"], supplied["content"], supplied["style"]
        test_fp = fingerprint_batch(test_t)
        fit_fp = (fingerprint_batch(content_t), fingerprint_batch(style)) if need_fit else None

        purified: dict[str, EyeBatch] = {}
        stats_by_name: dict[str, dict[str, Any]] = {}
        for name in cfg.purifiers:
            purifier = build(pm, "purifier", name, cfg.params.get(name, {}), device)
            seed_everything(cfg.seed)
            stats: dict[str, Any] = {"purifier": name, "style": tname if purifier.needs_fit else None,
                                     "component": purifier.describe(), "fit_seconds": None,
                                     "fit_cached": False, "purify_cached": False}
            fit_key = cache.key("purifier", stats["component"], code_digest(purifier),
                                fit_fp if purifier.needs_fit else None, cfg.seed, device)
            if purifier.needs_fit:
                ckpt = cache.path("purifiers", name, fit_key)
                if cache.hit(ckpt):
                    purifier.load(ckpt)
                    stats["fit_cached"] = True
                    log(f"purifier {name}: fitted state from cache {ckpt}")
                else:
                    with _stage(log, f"fitting purifier {name} (style {tname})") as st:
                        _fit_with_context("purifier", name, cfg, lambda: purifier.fit(content_t, style))
                    stats["fit_seconds"] = st["seconds"]
                    if cache.enabled:
                        purifier.save(ckpt)
            # per-step objective terms where the purifier records them (issue 12: a purifier dominated
            # by TV or content is seen, not guessed)
            stats["objective"] = getattr(purifier, "objective_trace", lambda: None)()
            out_path = cache.path("purified", name, cache.key(fit_key, test_fp), ".pt")
            if cache.hit(out_path):
                out = load_state(out_path)["images"]
                stats.update(purify_cached=True, purify_seconds_per_image=None)
                log(f"purifier {name}: purified test set from cache {out_path}")
            else:
                with _stage(log, f"purifying {len(test_t)} test images with {name}") as st:
                    out = purifier.purify(test_t.without_labels())
                stats["purify_seconds_per_image"] = st["seconds"] / len(test_t)
            _check_purified(name, out, test_t.images)
            if cache.enabled and not stats["purify_cached"]:
                save_state(out_path, {"images": out.cpu().contiguous()})
            notes += [n for n in getattr(purifier, "record_notes", lambda: [])() if n not in notes]
            purifier_stats.append(stats)
            stats_by_name[name] = stats
            purified[name] = test_t.replace(images=out.cpu())
        first_purified = first_purified or purified
        shift_note = _pupil_shifts(pm, cfg, device, raw_test, train, purified, stats_by_name, log, oracle)
        if shift_note and shift_note not in notes:
            notes.append(shift_note)

        train_fp = fingerprint_batch(train)
        for name in cfg.estimators:
            seed_everything(cfg.seed)
            est = build(pm, "estimator", name, cfg.params.get(name, {}), device)
            est_stats: dict[str, Any] = {"estimator": name, "train": tname, "component": est.describe(),
                                         "fit_seconds": None, "fit_cached": False}
            estimator_stats.append(est_stats)
            ckpt = cache.path("estimators", name, cache.key("estimator", est_stats["component"], code_digest(est),
                                                           train_fp, cfg.seed, device))
            if cache.hit(ckpt):
                est.load(ckpt)
                est_stats["fit_cached"] = True
                log(f"estimator {name}: fitted state from cache {ckpt}")
            else:
                with _stage(log, f"fitting estimator {name} on {len(train)} {tname} samples") as st:
                    _fit_with_context("estimator", name, cfg, lambda: est.fit(train))
                est_stats["fit_seconds"] = st["seconds"]
                if cache.enabled:
                    est.save(ckpt)

            def score(batch: EyeBatch, _est: Any = est, _name: str = name) -> dict[str, Any]:
                pred = torch.as_tensor(_est.predict(batch.without_labels()), dtype=torch.float32).cpu()
                if pred.shape != (len(batch), 3) or not bool(torch.isfinite(pred).all()):
                    raise RunError(f"estimator {_name!r} returned {tuple(pred.shape)} predictions "
                                   f"(finite: {bool(torch.isfinite(pred).all())}); expected finite ({len(batch)}, 3)")
                return error_summary(angular_error_deg(pred.double(), raw_test.gaze.double()))

            with _stage(log, f"predicting raw test with {name}") as st:
                raw = score(raw_test)
            est_stats["predict_seconds_per_image"] = st["seconds"] / len(raw_test)
            orc = score(oracle) if oracle is not None else None
            for pname in cfg.purifiers:
                pur = score(purified[pname])
                gap = None
                if orc is not None and abs(raw["mean_deg"] - orc["mean_deg"]) > 1e-9:
                    gap = (raw["mean_deg"] - pur["mean_deg"]) / (raw["mean_deg"] - orc["mean_deg"])
                rows.append({
                    "estimator": name, "train": tname, "test": cfg.test, "purifier": pname,
                    "n_train": len(train), "n_test": len(raw_test),
                    "raw_mean_deg": raw["mean_deg"], "raw_median_deg": raw["median_deg"], "raw_std_deg": raw["std_deg"],
                    "purified_mean_deg": pur["mean_deg"], "purified_median_deg": pur["median_deg"],
                    "purified_std_deg": pur["std_deg"],
                    "oracle_mean_deg": orc["mean_deg"] if orc else None,
                    "oracle_median_deg": orc["median_deg"] if orc else None,
                    "gap_closed": gap,
                    **{k: stats_by_name[pname].get(k) for k in PUPIL_ROW_FIELDS},
                    "raw_curve": raw["curve"], "purified_curve": pur["curve"],
                })

    plugins = [{"name": p.name, "distribution": p.distribution, "version": p.version, "broken": p.broken}
               for p in pm.plugins.values()]
    record = {
        "schema": SCHEMA_RUN,
        "command": cfg.command,
        "config": {**asdict(cfg), "device_resolved": device, "masks_from": masks_from},
        "seed": cfg.seed,
        "started": started,
        "ended": utc_now(),
        "environment": environment(device, plugins),
        "datasets": datasets,
        "purifiers": purifier_stats,
        "estimators": estimator_stats,
        "notes": notes,
        "rows": rows,
    }
    if cfg.plots:
        from gazebench.plots import cumulative_curves, sample_grid

        folder = Path(cfg.plots)
        cols = [("raw", raw_test.images)] + [(n, b.images) for n, b in first_purified.items() if n != "identity"]
        if oracle is not None:
            cols.append(("oracle (paired)", oracle.images))
        record["plots"] = [str(cumulative_curves(record, folder / "cumulative_error.png")),
                           str(sample_grid(cols, folder / "samples.png"))]
    out = Path(cfg.out) if cfg.out else Path("results") / "runs" / f"run-{started.replace(':', '')}.json"
    write_record(record, out)
    record["path"] = str(out)
    pm.record({k: v for k, v in record.items() if k != "path"})
    return record


def best_segmenter(pm: PluginManager) -> str | None:
    """The registered segmenter with the highest ``priority`` (ties: alphabetical), or None."""
    specs = list(pm.registry("segmenter"))
    if not specs:
        return None
    return min(specs, key=lambda s: (-getattr(s.load(), "priority", 0), s.name)).name


def _pupil_shifts(pm: PluginManager, cfg: RunConfig, device: str, test: Any, train: Any,
                  purified: dict[str, Any], stats: dict[str, dict[str, Any]], log: Progress,
                  oracle: Any = None) -> str | None:
    """Does purification keep the pupil? Fills each purifier's ``stats`` with the fields of
    :data:`gazebench.metrics.PUPIL_ROW_FIELDS` (all logic in :mod:`gazebench.metrics`).

    - test set with true pupil centres and masks: the fixed locator's error against the truth on
      raw, purified and oracle images (``pupil_err_*_px``; the oracle is the locator's floor);
    - test set without true centres, or a segmenter named with ``--pupil-segmenter``: the
      segmenter's raw -> purified pupil shift and its floor on a photometric control
      (``pupil_seg_shift_px``, ``pupil_seg_floor_px``);
    - test masks: the old darkness-weighted centroid shift raw -> purified (``pupil_shift_px``),
      biased under relighting (kept as a secondary column).
    """
    from gazebench import metrics

    source = cfg.pupil_segmenter
    if not source:
        return None
    notes = []
    if test.masks is not None and test.pupil is not None:
        versions = {"raw": test.images, **({"oracle": oracle.images} if oracle is not None else {}),
                    **{p: b.images for p, b in purified.items()}}
        errs = metrics.pupil_locator_errors(versions, test.masks, test.pupil)
        for pname in purified:
            stats[pname].update(metrics.run_pupil_fields(errs, pname))
            stats[pname]["pupil_err_purified_std_px"] = errs[pname]["std"]
        notes.append("pupil error: the fixed locator (darkness-weighted centroid in the true iris masks) "
                     "vs the true pupil centre, on raw / purified / oracle (the oracle is its floor)")
    if test.masks is not None:
        raw_c = metrics.pupil_centres(test.images, test.masks)
        for pname, batch in purified.items():
            d = metrics.summarize(metrics.centre_distances(metrics.pupil_centres(batch.images, test.masks), raw_c))
            stats[pname].update(pupil_found=d["found"], pupil_shift_px=d["mean"], pupil_shift_std_px=d["std"])
        notes.append("pupil shift (secondary, biased under relighting): darkness-weighted centroid raw vs purified")
    if (source == "auto" and test.pupil is None) or source != "auto":
        name = best_segmenter(pm) if source == "auto" else source
        if name is None or name not in pm.registry("segmenter"):
            notes.append(f"segmenter pupil shift not measured: segmenter "
                         f"{source if source != 'auto' else 'of any kind'!r} is not registered")
            return "; ".join(notes)
        seg = build(pm, "segmenter", name, cfg.params.get(name, {}), device)
        if seg.needs_fit:
            if train.masks is None:
                notes.append(f"segmenter pupil shift not measured: segmenter {name!r} needs training masks")
                return "; ".join(notes)
            with _stage(log, f"fitting segmenter {name} for the pupil shift"):
                seg.fit(train)
        raw_l = seg.segment(test.images).cpu()
        floor = metrics.summarize(metrics.segmenter_shift(raw_l, seg.segment(
            metrics.photometric_control(test.images)).cpu()))["mean"]
        for pname, batch in purified.items():
            d = metrics.summarize(metrics.segmenter_shift(raw_l, seg.segment(batch.images).cpu()))
            stats[pname].update(pupil_seg_shift_px=d["mean"], pupil_seg_floor_px=floor)
        notes.append(f"segmenter pupil shift: pupils segmenter {name!r} finds, raw vs purified; floor: "
                     "the same on a fixed photometric control (gain, gamma, contrast)")
    return "; ".join(notes) or None


def _supply_masks(pm: PluginManager, cfg: RunConfig, device: str, train: Any,
                  batches: dict[str, Any], log: Progress) -> tuple[dict[str, Any], str]:
    """Fill the ``masks`` of the purifier's inputs from their datasets or a segmenter."""
    source = "dataset" if cfg.masks == "landmarks" else cfg.masks  # the dataset's own landmark masks
    have_all = all(b is None or b.masks is not None for b in batches.values())
    if source in ("auto", "dataset"):
        if have_all:
            return batches, "dataset"
        segmenters = pm.registry("segmenter").names()
        if source == "dataset" or not segmenters:
            lacking = [k for k, b in batches.items() if b is not None and b.masks is None]
            raise RunError(f"a purifier needs region masks and the {'/'.join(lacking)} data has none; "
                           f"choose a segmenter with --masks NAME (registered: {', '.join(segmenters) or 'none'})")
        source = best_segmenter(pm)
    seg = build(pm, "segmenter", source, cfg.params.get(source, {}), device)
    if seg.needs_fit:
        if train.masks is None:
            raise RunError(f"segmenter {source!r} needs training masks, but the training set has none")
        with _stage(log, f"fitting segmenter {source}"):
            seg.fit(train)
    out = {k: (b if b is None or b.masks is not None else b.replace(masks=seg.segment(b.images).cpu()))
           for k, b in batches.items()}
    return out, f"segmenter:{source}"


def format_command(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in ["gazebench", *argv])


__all__ = ["RunConfig", "RunError", "run", "resolve_device", "PluginError"]
