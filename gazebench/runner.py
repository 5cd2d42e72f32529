"""The experiment pipeline behind ``gazebench run`` (DESIGN.md, "The flow of one run").

plan -> load data -> masks -> fit or load each component -> purify -> score -> record. Each
step is a function in :mod:`gazebench.stages`; :func:`run` is the whole flow on one screen.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gazebench.device import resolve_device, seed_everything
from gazebench.plugins import PluginError, PluginManager, get_plugin_manager
from gazebench.progress import Log
from gazebench.results import SCHEMA_RUN, finish_record, new_record
from gazebench.stages import (RunError, Segmenters, fit_estimator, load_test, load_train, plan_run,
                              pupil_shifts, purify_test, score, supply_masks)


@dataclass
class RunConfig:
    """Every option of a run; recorded in the record's ``config`` with its defaults filled in.

    ``train``/``test``/``estimators``/``purifiers`` left empty take the components that declare
    themselves defaults (``default_rank``, :mod:`gazebench.defaults`).
    """

    train: str | list[str] | None = None
    test: str | None = None
    estimators: list[str] = field(default_factory=list)
    purifiers: list[str] = field(default_factory=list)
    masks: str = "auto"
    size: tuple[int, int] = (36, 60)
    n_train: int | None = 1000
    n_test: int | None = 200
    n_unlabelled: int | None = 200
    #: the unlabelled real-style images purifiers are fitted on (None: the test set's ``unlabelled`` split)
    content: str | None = None
    content_root: str | None = None
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


def run(cfg: RunConfig, *, pm: PluginManager | None = None, log: Log | None = None) -> dict[str, Any]:
    """Run the pipeline for ``cfg``; return the record (also written to disk and handed to plugins).

    Each training set gives its own rows: estimators are fitted on it and purifiers take their
    style from it; the test set, the oracle and the unlabelled content are loaded once.
    """
    pm = pm or get_plugin_manager()
    plan, ctx, cfg = plan_run(cfg, pm)
    ctx.log = log or ctx.log
    record = new_record(SCHEMA_RUN, cfg, pm, ctx.device)
    data = load_test(ctx, plan)
    segmenters = Segmenters(pm, cfg.params, ctx.device, ctx.log)
    purifier_stats, estimator_stats, rows = [], [], []
    first_purified: dict[str, Any] = {}
    masks_from = None
    for tname in plan.trains:
        train, data.info["train"][tname] = load_train(ctx, tname, len(plan.trains))
        inputs = supply_masks(ctx, plan, data, train, segmenters)
        masks_from = inputs.masks_from or masks_from
        purified, stats = {}, {}
        for name, probe in plan.purifiers.items():
            purified[name], stats[name] = purify_test(ctx, probe, tname, inputs)
        purifier_stats += stats.values()
        first_purified = first_purified or purified
        pupil_shifts(ctx, data, train, purified, stats, segmenters)
        for name in plan.estimators:
            est, est_stats = fit_estimator(ctx, name, train, tname)
            estimator_stats.append(est_stats)
            rows += score(ctx, est, est_stats, data, purified, stats)

    record["config"].update(device_resolved=ctx.device, masks_from=masks_from)
    record.update(datasets=data.info, purifiers=purifier_stats, estimators=estimator_stats,
                  notes=ctx.notes, rows=rows)
    if cfg.plots:
        record["plots"] = _plots(record, data, first_purified, Path(cfg.plots))
    return finish_record(record, cfg.out, "run", pm)


def _plots(record: dict[str, Any], data: Any, purified: dict[str, Any], folder: Path) -> list[str]:
    """Cumulative error curves and a raw | purified... | oracle sample grid."""
    from gazebench.plots import cumulative_curves, sample_grid

    noop = {s["purifier"] for s in record["purifiers"] if s.get("noop")}
    cols = [("raw", data.test.images)] + [(n, b.images) for n, b in purified.items() if n not in noop]
    if data.oracle is not None:
        cols.append(("oracle (paired)", data.oracle.images))
    return [str(cumulative_curves(record, folder / "cumulative_error.png")),
            str(sample_grid(cols, folder / "samples.png"))]


def format_command(argv: list[str]) -> str:
    """The command line as a user would type it again."""
    return " ".join(shlex.quote(a) for a in ["gazebench", *argv])


# resolve_device and seed_everything live in gazebench.device; re-exported for existing callers
__all__ = ["RunConfig", "RunError", "run", "format_command", "resolve_device", "seed_everything", "PluginError"]
