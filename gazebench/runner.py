"""The experiment pipeline behind ``gazebench run`` (DESIGN.md, "The flow of one run").

plan -> load data -> masks -> fit or load each component -> purify -> score -> record, once per
seed. Each step is a function in :mod:`gazebench.stages` / :mod:`gazebench.scoring`;
:func:`run` and :func:`run_seed` are the whole flow on one screen.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gazebench.device import resolve_device, seed_everything
from gazebench.plugins import PluginError, PluginManager, get_plugin_manager
from gazebench.progress import Log
from gazebench.results import SCHEMA_RUN, finish_record, new_record
from gazebench.scoring import finish_rows, score
from gazebench.stages import (RunError, Segmenters, TestData, fit_estimator, load_test, load_train, plan_run,
                              pupil_shifts, purify_test, supply_masks)
from gazebench.stats import seed_summary


@dataclass
class RunConfig:
    """Every option of a run; recorded in the record's ``config`` with its defaults filled in.

    ``train``/``test``/``estimators``/``purifiers`` left empty take the components that declare
    themselves defaults (``default_rank``, :mod:`gazebench.defaults`). ``seeds`` repeats the
    whole run (data, fits, scores) once per seed; without it, ``seed`` is the one seed.
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
    seeds: list[int] | None = None
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
    #: how the tasks run (:mod:`gazebench.executors`): ``local`` (in-process) or ``ray``; Ray's ``address``
    executor: str = "local"
    address: str | None = None
    #: the matrix point of a grid run (``{"knn.k": 5}``); empty for a single run
    grid: dict[str, Any] = field(default_factory=dict)


@dataclass
class SeedResult:
    """What one seed's pass produced, before it becomes part of the record."""

    cfg: RunConfig
    device: str
    data: TestData
    rows: list[dict[str, Any]]
    purifiers: list[dict[str, Any]]
    estimators: list[dict[str, Any]]
    notes: list[str]
    masks_from: str | None
    purified: dict[str, Any]


def run(cfg: RunConfig, *, pm: PluginManager | None = None, log: Log | None = None) -> dict[str, Any]:
    """Run the pipeline for ``cfg`` (once per seed); return the record, also written to disk with
    its per-sample errors beside it and handed to plugins."""
    pm = pm or get_plugin_manager()
    if cfg.executor != "local":  # the tasks of this run on another executor (gazebench.executors)
        from gazebench.executors import run_grid

        return run_grid([cfg], pm=pm, log=log, executor=cfg.executor, address=cfg.address)[0]
    seeds = list(dict.fromkeys(cfg.seeds)) if cfg.seeds else [cfg.seed]
    parts = [run_seed(replace(cfg, seed=s, seeds=cfg.seeds and seeds), pm, log) for s in seeds]
    return assemble_record(cfg, seeds, parts, pm)


def assemble_record(cfg: RunConfig, seeds: list[int], parts: list[SeedResult], pm: PluginManager,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record of a run from its seeds' passes (in seed order): rows, stats, summary, plots,
    and ``extra`` keys (the executors' task list); written to disk and handed to plugins.
    Shared by :func:`run` and the task executors (:mod:`gazebench.executors`)."""
    first = parts[0]
    record = new_record(SCHEMA_RUN, replace(first.cfg, seed=seeds[0]), pm, first.device)
    record["config"].update(device_resolved=first.device, masks_from=first.masks_from)
    rows = [r for p in parts for r in p.rows]
    arrays = finish_rows(rows)
    record.update(datasets=first.data.info, purifiers=[s for p in parts for s in p.purifiers],
                  estimators=[s for p in parts for s in p.estimators],
                  notes=list(dict.fromkeys(n for p in parts for n in p.notes)), rows=rows,
                  summary=seed_summary(rows) if len(seeds) > 1 else None)
    if cfg.plots:  # the first seed's pass: one curve per purifier, not one per seed
        view = {**record, "rows": [r for r in rows if r["seed"] == seeds[0]]}
        record["plots"] = _plots(view, first.data, first.purified, Path(cfg.plots))
    record.update(extra or {})
    return finish_record(record, cfg.out, "run", pm, arrays)


def run_seed(cfg: RunConfig, pm: PluginManager, log: Log | None = None) -> SeedResult:
    """One pass of the flow with ``cfg.seed``: every training set's rows."""
    plan, ctx, cfg = plan_run(cfg, pm)
    ctx.log = log or ctx.log
    data = load_test(ctx, plan)
    segmenters = Segmenters(pm, cfg.params, ctx.device, ctx.log)
    out = SeedResult(cfg, ctx.device, data, [], [], [], ctx.notes, None, {})
    for tname in plan.trains:
        train, data.info["train"][tname] = load_train(ctx, tname, len(plan.trains))
        inputs = supply_masks(ctx, plan, data, train, segmenters)
        out.masks_from = inputs.masks_from or out.masks_from
        purified, stats = {}, {}
        for name, probe in plan.purifiers.items():
            purified[name], stats[name] = purify_test(ctx, probe, tname, inputs)
        out.purified = out.purified or purified
        pupil_shifts(ctx, data, train, purified, stats, segmenters)
        out.purifiers += [{**s, "seed": cfg.seed} for s in stats.values()]
        for name in plan.estimators:
            est, est_stats = fit_estimator(ctx, name, train, tname)
            out.rows += score(ctx, est, est_stats, data, purified, stats)
            out.estimators.append({**est_stats, "seed": cfg.seed})
    return out


def _plots(record: dict[str, Any], data: Any, purified: dict[str, Any], folder: Path) -> list[str]:
    """The record's figures (cumulative error with the oracle, objective curves; gazebench.figures,
    as ``gazebench plot`` draws them) and a raw | purified... | oracle sample grid."""
    from gazebench.figures import plot_record
    from gazebench.plots import sample_grid

    noop = {s["purifier"] for s in record["purifiers"] if s.get("noop")}
    cols = [("raw", data.test.images)] + [(n, b.images) for n, b in purified.items() if n not in noop]
    if data.oracle is not None:
        cols.append(("oracle (paired)", data.oracle.images))
    return [str(p) for p in plot_record(record, folder, formats=("png",))] + \
        [str(sample_grid(cols, folder / "samples.png"))]


def format_command(argv: list[str]) -> str:
    """The command line as a user would type it again."""
    return " ".join(shlex.quote(a) for a in ["gazebench", *argv])


# resolve_device and seed_everything live in gazebench.device; re-exported for existing callers
__all__ = ["RunConfig", "RunError", "SeedResult", "assemble_record", "run", "run_seed", "format_command",
           "resolve_device", "seed_everything", "PluginError"]
