"""A run (or a grid of runs) as a plan of tasks with explicit dependencies.

For every grid point, seed and training set the driver loads the data and fills the masks (as
:func:`gazebench.runner.run_seed` does), then plans:

- ``purify``: fit (or load) one purifier on the training set's style and purify the test set;
  keyed by the purified set's cache key (its fitted state is a cache entry of its own, so an
  interrupted purification resumes after the fit);
- ``pupil``: the pupil shifts of every purified set (on the driver; needs all of them);
- ``fit``: fit (or load) one estimator; keyed by its checkpoint's cache key;
- ``score``: that estimator's rows on raw, purified and oracle test images; keyed by a hash of
  the estimator's and purified sets' keys, the test data and the scoring code, and kept in the
  cache (``scores/``) so a finished score is never redone either.

Each key is the content-addressed key the stages already compute (:func:`gazebench.stages.
purifier_keys`, :func:`gazebench.stages.estimator_key`), so a task is done exactly when its cache
entries exist. Executors (:mod:`gazebench.executors`) run the tasks; :func:`parts` turns the
finished plan back into :class:`gazebench.runner.SeedResult` objects in the serial order, so the
record is the one :func:`gazebench.runner.run` writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gazebench.cache import fingerprint_batch
from gazebench.io import write_text_atomic
from gazebench.plugins import PluginManager
from gazebench.progress import Log
from gazebench.stages import (Context, Plan, PurifierInputs, Segmenters, TestData, build, estimator_key, load_test,
                              load_train, plan_run, purifier_keys, supply_masks)

if TYPE_CHECKING:
    from gazebench.runner import RunConfig, SeedResult
    from gazebench.types import EyeBatch

#: task kinds, in the order one group plans them
TASK_KINDS = ("purify", "pupil", "fit", "score")
#: the modules whose code decides a score row: editing them invalidates cached scores
_SCORING_MODULES = ("gazebench.scoring", "gazebench.stats", "gazebench.geometry", "gazebench.metrics")


@dataclass
class Group:
    """One grid point x seed x training set: its data in memory and its tasks' results."""

    point: int
    ctx: Context
    plan: Plan
    data: TestData
    train_name: str
    #: the training set, the purifiers' inputs and the segmenters: None once the pass is released
    train: "EyeBatch | None"
    inputs: PurifierInputs | None
    segmenters: Segmenters | None
    purified_keys: dict[str, str] = field(default_factory=dict)
    fit_keys: dict[str, str] = field(default_factory=dict)  # purifiers' fitted states
    estimator_keys: dict[str, str] = field(default_factory=dict)
    purified: dict[str, "EyeBatch"] = field(default_factory=dict)
    pur_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    estimators: dict[str, Any] = field(default_factory=dict)
    est_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Task:
    """One unit of work: ``kind`` of component ``name`` in group ``group``.

    ``key`` is its cache key (None for ``pupil``, which is cheap and recomputed); ``deps`` the ids
    of the tasks it needs; ``gpu`` whether it wants a GPU (``--device cuda`` and a component that
    takes a device); ``driver`` whether it must run where the group's data is (the driver).
    """

    id: str
    kind: str
    name: str
    group: int
    key: str | None
    deps: list[str]
    gpu: bool = False
    driver: bool = False


@dataclass
class SeedPass:
    """One grid point x seed: its groups (one per training set) and what the record needs."""

    point: int
    cfg: "RunConfig"
    ctx: Context
    data: TestData
    groups: list[int]
    masks_from: str | None = None


@dataclass
class GridPlan:
    """Every task of a grid in the serial order, with the groups and passes they belong to."""

    cfgs: list["RunConfig"]
    seeds: list[list[int]]
    passes: list[SeedPass]
    groups: list[Group]
    tasks: list[Task]
    #: the number of tasks once every pass is planned (known before any data is read)
    total: int = 0

    def task(self, task_id: str) -> Task:
        """The task with id ``task_id``."""
        return self._by_id[task_id]

    def add(self, tasks: list[Task]) -> None:
        """Append newly planned tasks. A task whose cache key an earlier task of its kind already
        has (an identity purification shared by several training sets, an estimator fit shared by
        grid points that vary only a purifier) depends on that one: it then reads its entries
        rather than computing them twice at once."""
        for t in tasks:
            first = self._by_key.setdefault((t.kind, t.key), t.id) if t.key else t.id
            if first != t.id and first not in t.deps:
                t.deps.append(first)
        self.tasks += tasks
        self._by_id.update((t.id, t) for t in tasks)

    def __post_init__(self) -> None:
        self._by_id = {t.id: t for t in self.tasks}
        self._by_key: dict[tuple[str, str | None], str] = {}


def scoring_digest() -> str:
    """sha256 (16 hex) of the scoring modules' source: part of every score key."""
    import importlib

    h = hashlib.sha256()
    for mod in _SCORING_MODULES:
        path = getattr(importlib.import_module(mod), "__file__", None)
        h.update(Path(path).read_bytes() if path else mod.encode())
    return h.hexdigest()[:16]


def _takes_device(pm: PluginManager, kind: str, name: str) -> bool:
    import inspect

    try:
        return "device" in inspect.signature(pm.spec(kind, name).load()).parameters
    except (TypeError, ValueError):
        return False


def new_grid(cfgs: list["RunConfig"], pm: PluginManager) -> GridPlan:
    """An empty plan for ``cfgs`` after checking every grid point (names, ``-o`` values, outputs)
    before any data is read; :func:`plan_pass` fills it one seed of one point at a time."""
    seeds_of, total = [], 0
    for cfg in cfgs:  # every point's configuration errors before any point's work
        seeds = list(dict.fromkeys(cfg.seeds)) if cfg.seeds else [cfg.seed]
        plan, _, _ = plan_run(replace(cfg, seed=seeds[0], seeds=cfg.seeds and seeds), pm)
        seeds_of.append(seeds)
        # per training set: one purify per purifier, the pupil step, a fit and a score per estimator
        total += len(seeds) * len(plan.trains) * (len(plan.purifiers) + 1 + 2 * len(plan.estimators))
    return GridPlan(cfgs, seeds_of, [], [], [], total)


def build_plan(cfgs: list["RunConfig"], pm: PluginManager, log: Log | None = None) -> GridPlan:
    """:func:`new_grid`, then every pass planned: all the grid's data in memory, nothing fitted."""
    gp = new_grid(cfgs, pm)
    for point, seeds in enumerate(gp.seeds):
        for seed in seeds:
            plan_pass(gp, point, seed, pm, log)
    return gp


def plan_pass(gp: GridPlan, point: int, seed: int, pm: PluginManager, log: Log | None = None) -> list[Task]:
    """Load the data of grid point ``point`` with ``seed`` (test set, each training set, masks) and
    add its groups and tasks to ``gp``, in the serial runner's order; returns the new tasks."""
    cfg, seeds = gp.cfgs[point], gp.seeds[point]
    plan, ctx, scfg = plan_run(replace(cfg, seed=seed, seeds=cfg.seeds and seeds), pm)
    ctx.log = log or ctx.log
    data = load_test(ctx, plan)
    segmenters = Segmenters(pm, scfg.params, ctx.device, ctx.log)
    sp = SeedPass(point, scfg, ctx, data, [])
    gp.passes.append(sp)
    gpu = ctx.device.startswith("cuda")
    digest = scoring_digest()
    tasks: list[Task] = []
    for tname in plan.trains:
        train, data.info["train"][tname] = load_train(ctx, tname, len(plan.trains))
        inputs = supply_masks(ctx, plan, data, train, segmenters)
        sp.masks_from = inputs.masks_from or sp.masks_from
        g = Group(point, ctx, plan, data, tname, train, inputs, segmenters)
        gi = len(gp.groups)
        gp.groups.append(g)
        sp.groups.append(gi)
        tag = f"{tname} seed {seed}" + (f" {_label(cfg.grid)}" if cfg.grid else "")
        purify_ids = []
        for name, probe in plan.purifiers.items():
            g.fit_keys[name], g.purified_keys[name] = purifier_keys(ctx, probe, inputs)
            tid = f"purify {name} [{tag}]"
            purify_ids.append(tid)
            tasks.append(Task(tid, "purify", name, gi, g.purified_keys[name], [],
                              gpu and _takes_device(pm, "purifier", name)))
        pupil_id = f"pupil shifts [{tag}]"
        tasks.append(Task(pupil_id, "pupil", "", gi, None, purify_ids, driver=True))
        test_fp = fingerprint_batch(inputs.test)
        oracle_fp = fingerprint_batch(data.oracle) if data.oracle is not None else None
        for name in plan.estimators:
            est = build(pm, "estimator", name, ctx.params(name), ctx.device)
            g.estimator_keys[name] = estimator_key(ctx, est, train)
            fit_id = f"fit {name} [{tag}]"
            takes = gpu and _takes_device(pm, "estimator", name)
            tasks.append(Task(fit_id, "fit", name, gi, g.estimator_keys[name], [], takes))
            key = ctx.cache.key("score", g.estimator_keys[name], [g.purified_keys[p] for p in plan.purifiers],
                                test_fp, oracle_fp, scfg.test, tname, scfg.pupil_segmenter, seed, digest)
            tasks.append(Task(f"score {name} [{tag}]", "score", name, gi, key, [fit_id, pupil_id], takes))
    gp.add(tasks)
    return tasks


def release(gp: GridPlan, sp: SeedPass) -> None:
    """Drop what a finished pass no longer needs (training data, fitted estimators, the purified
    sets of its later training sets), keeping what the record needs: as the serial runner does."""
    for i, gi in enumerate(sp.groups):
        g = gp.groups[gi]
        g.train = g.inputs = g.segmenters = None
        g.estimators = {}
        if i:  # the record's plots use the first training set's purified sets only
            g.purified = {}


def _label(grid: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in grid.items())


# -- cache entries of tasks ------------------------------------------------------------------

def entries(gp: GridPlan, task: Task) -> list[Path]:
    """The cache files that, all present, mean ``task`` is done (none for ``pupil``)."""
    g = gp.groups[task.group]
    cache = g.ctx.cache
    if task.kind == "purify":
        probe = g.plan.purifiers[task.name]
        paths = [cache.path("purified", task.name, g.purified_keys[task.name], ".pt")]
        if probe.needs_fit:
            paths.append(cache.path("purifiers", task.name, g.fit_keys[task.name]))
        return paths
    if task.kind == "fit":
        return [cache.path("estimators", task.name, g.estimator_keys[task.name])]
    if task.kind == "score":
        return [score_path(g.ctx, task)]
    return []


def is_cached(gp: GridPlan, task: Task) -> bool:
    """Whether every cache entry of ``task`` exists (a ``pupil`` task never is: it is recomputed)."""
    paths = entries(gp, task)
    return bool(paths) and all(gp.groups[task.group].ctx.cache.hit(p) for p in paths)


def score_path(ctx: Context, task: Task) -> Path:
    """Where a score task keeps its rows: ``scores/<estimator>-<key>.json`` in the cache."""
    return ctx.cache.path("scores", task.name, task.key or "", ".json")


def save_score(path: Path, rows: list[dict[str, Any]], predict_seconds: float | None) -> None:
    """A score task's rows, their per-sample arrays as typed lists (JSON floats round-trip exactly)."""
    out = []
    for row in rows:
        plain = {k: _plain(v) for k, v in row.items() if k != "_samples"}
        plain["_samples"] = {k: None if v is None else _typed(v) for k, v in row.get("_samples", {}).items()}
        out.append(plain)
    import json

    # NaN stays NaN (the record's own writer refuses it; a cache entry must keep what score made)
    write_text_atomic(path, json.dumps({"rows": out, "predict_seconds_per_image": predict_seconds}))


def _typed(values: Any) -> dict[str, Any]:
    arr = np.asarray(values)
    return {"dtype": str(arr.dtype), "values": arr.tolist()}


def load_score(path: Path) -> tuple[list[dict[str, Any]], float | None]:
    """The rows :func:`save_score` kept, their per-sample arrays as numpy arrays again."""
    import json

    blob = json.loads(path.read_text())
    rows = []
    for row in blob["rows"]:
        row["_samples"] = {k: None if v is None else np.asarray(v["values"], dtype=v["dtype"])
                           for k, v in row["_samples"].items()}
        rows.append(row)
    return rows, blob.get("predict_seconds_per_image")


def _plain(v: Any) -> Any:
    """numpy scalars and arrays as JSON values (``json`` refuses numpy types)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


# -- back to the serial order ----------------------------------------------------------------

def parts(gp: GridPlan) -> list[list["SeedResult"]]:
    """Per grid point, its seeds' :class:`SeedResult` objects, assembled in the serial order
    (training set, then estimator, then purifier) whatever order the tasks finished in."""
    from gazebench.runner import SeedResult

    out: list[list[SeedResult]] = [[] for _ in gp.cfgs]
    for sp in gp.passes:
        res = SeedResult(sp.cfg, sp.ctx.device, sp.data, [], [], [], sp.ctx.notes, sp.masks_from, {})
        for gi in sp.groups:
            g = gp.groups[gi]
            res.purified = res.purified or {n: g.purified[n] for n in g.plan.purifiers}
            res.purifiers += [{**g.pur_stats[n], "seed": sp.cfg.seed} for n in g.plan.purifiers]
            for name in g.plan.estimators:
                res.rows += g.rows[name]
                res.estimators.append({**g.est_stats[name], "seed": sp.cfg.seed})
        out[sp.point].append(res)
    return out


__all__ = ["GridPlan", "Group", "TASK_KINDS", "SeedPass", "Task", "build_plan", "entries", "is_cached",
           "load_score", "new_grid", "parts", "plan_pass", "release", "save_score", "score_path", "scoring_digest"]
