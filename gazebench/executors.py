"""Executors of a task plan (:mod:`gazebench.plan`): ``local`` (in-process) and ``ray``.

``local`` runs every task in the plan's order in this process, passing results in memory: the
same calls in the same order as :func:`gazebench.runner.run`, so the same numbers (and it works
with ``--no-cache``). ``ray`` sends the tasks whose dependencies are done to a Ray cluster as Ray
tasks (``num_gpus=1`` for GPU tasks under ``--device cuda``, one CPU otherwise); workers write
fitted states, purified sets and scores to the cache folder, which must therefore be on storage
every node sees, and the driver reads them back and assembles the records. Tasks whose cache
entries already exist are read on the driver and never sent. Ray is imported only here, only
when ``ray`` is chosen.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from gazebench.io import load_state
from gazebench.plan import (GridPlan, Task, is_cached, load_score, new_grid, parts, plan_pass, release, save_score,
                            score_path)
from gazebench.plugins import PluginError, PluginManager, get_plugin_manager
from gazebench.progress import Log, progress, stderr_log
from gazebench.stages import RunError, fit_estimator, pupil_shifts, purify_test

EXECUTORS = ("local", "ray")
#: environment variables a Ray worker gets from the driver (data, weights and cache locations)
_FORWARD_ENV = ("HF_HUB_OFFLINE", "HF_HOME", "TORCH_HOME", "XDG_CACHE_HOME")


def run_grid(cfgs: list[Any], *, pm: PluginManager | None = None, log: Log | None = None,
             executor: str = "local", address: str | None = None) -> list[dict[str, Any]]:
    """Plan every grid point of ``cfgs`` (:class:`gazebench.runner.RunConfig` objects), run the
    tasks with ``executor``, and write one record per point; return the records."""
    from gazebench.runner import assemble_record

    pm = pm or get_plugin_manager()
    if executor not in EXECUTORS:
        raise RunError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if executor == "ray" and not all(c.cache for c in cfgs):
        raise RunError("--executor ray passes results through the cache folder: drop --no-cache")
    if executor == "ray" and any(str(c.device).startswith("cuda:") for c in cfgs):
        # Ray gives each GPU task one GPU, seen inside the task as cuda:0: a number cannot hold there
        raise RunError("--executor ray assigns the GPUs itself: use --device cuda, not a numbered one")
    if executor == "ray":
        _import_ray()  # a missing extra is an error before any data is read
    gp = new_grid(cfgs, pm)
    done = execute(gp, pm, log, executor, address)
    records = []
    for point, (cfg, seeds, ps) in enumerate(zip(gp.cfgs, gp.seeds, parts(gp))):
        mine = [{"id": t.id, "kind": t.kind, **done[t.id]} for t in gp.tasks if gp.groups[t.group].point == point]
        # "keyed": the tasks with cache entries; the others (pupil shifts) are recomputed each time
        extra = {"tasks": {"executor": executor, "total": len(mine),
                           "keyed": sum(t.key is not None for t in gp.tasks if gp.groups[t.group].point == point),
                           "cached": sum(t["cached"] for t in mine), "list": mine}}
        records.append(assemble_record(cfg, seeds, ps, pm, extra))
    return records


def execute(gp: GridPlan, pm: PluginManager, log: Log | None = None, executor: str = "local",
            address: str | None = None) -> dict[str, dict[str, Any]]:
    """Plan the passes of ``gp`` (:func:`gazebench.plan.new_grid`) and run their tasks; returns per
    task id ``{"cached", "seconds", "where"}`` (seconds of work where it ran: here, or in a Ray worker)."""
    with progress(gp.total, "grid tasks") as advance:
        if executor == "ray":
            for point, seeds in enumerate(gp.seeds):  # every pass at once: they run side by side
                for seed in seeds:
                    plan_pass(gp, point, seed, pm, log)
            return _execute_ray(gp, address, advance)
        return _execute_local(gp, pm, log, advance)


# -- local ------------------------------------------------------------------------------------

def _execute_local(gp: GridPlan, pm: PluginManager, log: Log | None,
                   advance: Callable[..., None]) -> dict[str, dict[str, Any]]:
    """One pass (point x seed) at a time, planned, run and released: the serial runner's order and
    memory (one pass's data at a time), so the same seeds and the same numbers."""
    done: dict[str, dict[str, Any]] = {}
    for point, seeds in enumerate(gp.seeds):
        for seed in seeds:
            for t in plan_pass(gp, point, seed, pm, log):
                done[t.id] = _run_here(gp, t)
                advance(last=t.kind)
            release(gp, gp.passes[-1])
    return done


def _run_here(gp: GridPlan, t: Task) -> dict[str, Any]:
    """Run (or read from the cache) task ``t`` in this process; its results go into its group."""
    g = gp.groups[t.group]
    cached = is_cached(gp, t)
    t0 = time.perf_counter()
    if t.kind == "purify":
        g.purified[t.name], g.pur_stats[t.name] = purify_test(g.ctx, g.plan.purifiers[t.name], g.train_name, g.inputs)
    elif t.kind == "pupil":
        pupil_shifts(g.ctx, g.data, g.train, _ordered(g.purified, g.plan.purifiers), g.pur_stats, g.segmenters)
    elif t.kind == "fit":
        g.estimators[t.name], g.est_stats[t.name] = fit_estimator(g.ctx, t.name, g.train, g.train_name)
    elif t.kind == "score":
        from gazebench.scoring import score

        path = score_path(g.ctx, t)
        if g.ctx.cache.hit(path):
            g.rows[t.name], _ = load_score(path)
            g.est_stats[t.name]["predict_seconds_per_image"] = None  # not measured this time
            g.ctx.log(f"scores of {t.name}: from cache {path}")
        else:
            g.rows[t.name] = score(g.ctx, g.estimators[t.name], g.est_stats[t.name], g.data,
                                   _ordered(g.purified, g.plan.purifiers), g.pur_stats)
            if g.ctx.cache.enabled:
                save_score(path, g.rows[t.name], g.est_stats[t.name].get("predict_seconds_per_image"))
    else:
        raise RunError(f"task {t.id!r}: unknown kind {t.kind!r}")
    return {"cached": cached, "seconds": time.perf_counter() - t0, "where": "driver"}


def _ordered(values: dict[str, Any], order: Any) -> dict[str, Any]:
    """``values`` in the plan's purifier order (rows follow it), whatever order they arrived in."""
    return {n: values[n] for n in order}


# -- ray --------------------------------------------------------------------------------------

def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RunError('--executor ray needs Ray: pip install "gazebench[ray]"') from None
    return ray


def _execute_ray(gp: GridPlan, address: str | None, advance: Callable[..., None]) -> dict[str, dict[str, Any]]:
    ray = _import_ray()
    started: list[bool] = []

    def connect() -> Any:
        """Join (or start) Ray on the first task to send: a grid found whole in the cache needs none."""
        if not started:
            started.append(not ray.is_initialized())
            if started[0]:
                env = {k: v for k, v in os.environ.items() if k.startswith("GAZEBENCH_") or k in _FORWARD_ENV}
                ray.init(address=address, include_dashboard=False, runtime_env={"env_vars": env} if env else None)
        return ray.remote(_worker)

    try:
        return _schedule(gp, ray, connect, advance)
    finally:
        if started and started[0]:  # a cluster we only joined keeps running; one we started stops
            ray.shutdown()


def _schedule(gp: GridPlan, ray: Any, connect: Callable[[], Any],
              advance: Callable[..., None]) -> dict[str, dict[str, Any]]:
    """Send every task whose dependencies are done; run cached and driver tasks here meanwhile."""
    remote = None
    done: dict[str, dict[str, Any]] = {}
    running: dict[Any, Task] = {}
    refs: dict[tuple[int, str], Any] = {}

    def put(gi: int, what: str, value: Callable[[], Any]) -> Any:
        if (gi, what) not in refs:  # each group's data goes to the object store once
            refs[gi, what] = ray.put(value())
        return refs[gi, what]

    while len(done) < len(gp.tasks):
        busy = {t.id for t in running.values()}
        ready = [t for t in gp.tasks if t.id not in done and t.id not in busy and all(d in done for d in t.deps)]
        for t in ready:
            if t.driver or is_cached(gp, t):
                done[t.id] = _run_here(gp, t)
                advance(last=t.kind)
                continue
            remote = remote or connect()
            opts = {"num_cpus": 1, "num_gpus": 1 if t.gpu else 0}
            running[remote.options(**opts).remote(t.kind, t.name, _job(gp, t), _payload(gp, t, put))] = t
        if not running:
            if not ready:
                raise RunError("the task plan has a dependency cycle")  # cannot happen: build_plan orders it
            continue
        finished, _ = ray.wait(list(running), num_returns=1)
        for ref in finished:
            t = running.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # a RayTaskError wraps what the worker raised
                cause = getattr(exc, "cause", None) or exc
                text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
                raise RunError(f"task {t.id} failed on Ray: {text}") from None
            _absorb(gp, t, result)
            done[t.id] = {"cached": False, "seconds": result["seconds"], "where": result["node"]}
            advance(last=t.kind)
    return done


def _job(gp: GridPlan, t: Task) -> dict[str, Any]:
    """What a worker needs to rebuild the task's context: the configuration, the device the driver
    resolved (part of every key) and the cache folder's absolute path."""
    g = gp.groups[t.group]
    return {"cfg": g.ctx.cfg, "device": g.ctx.device, "cache": str(Path(g.ctx.cache.root).resolve()),
            "train_name": g.train_name, "key": t.key}


def _payload(gp: GridPlan, t: Task, put: Callable[..., Any]) -> dict[str, Any]:
    g, gi = gp.groups[t.group], t.group
    if t.kind == "purify":
        return {"inputs": put(gi, "inputs", lambda: g.inputs)}
    if t.kind == "fit":
        return {"train": put(gi, "train", lambda: g.train)}
    # score: the test data (not the purifiers' content), where the purified sets and the fitted
    # estimator are in the cache, and the purifier stats the rows quote (pupil shifts)
    return {"data": put(gi, "data", lambda: replace(g.data, content=None)),
            "test": put(gi, "test", lambda: g.inputs.test),
            "purified": {n: g.purified_keys[n] for n in g.plan.purifiers},
            "pur_stats": _ordered(g.pur_stats, g.plan.purifiers), "est_key": g.estimator_keys[t.name],
            "est_stats": g.est_stats[t.name], "score_key": t.key}


def _absorb(gp: GridPlan, t: Task, result: dict[str, Any]) -> None:
    """A Ray task's result into its group; purified images are read from the shared cache."""
    g = gp.groups[t.group]
    g.ctx.note(*result.get("notes", []))
    if t.kind == "purify":
        g.pur_stats[t.name] = result["stats"]
        path = g.ctx.cache.path("purified", t.name, g.purified_keys[t.name], ".pt")
        g.purified[t.name] = g.inputs.test.replace(images=load_state(path)["images"].cpu())
    elif t.kind == "fit":
        g.est_stats[t.name] = result["stats"]
    elif t.kind == "score":
        g.rows[t.name] = result["rows"]
        g.est_stats[t.name]["predict_seconds_per_image"] = result["predict_seconds_per_image"]


def _same_key(mine: str, drivers: str, name: str) -> None:
    """A worker computes the cache key of its task again: a different key means its code (gazebench,
    plugins, their versions) differs from the driver's, and its results would land elsewhere."""
    import platform

    if mine != drivers:
        raise RunError(f"{name}: node {platform.node()} computes cache key {mine}, the driver {drivers}: install "
                       "the same gazebench and plugins on every node (docs/grids.md)")


def _worker(kind: str, name: str, job: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """One task on a Ray worker: rebuild the context, run the stage, write its cache entries."""
    import platform

    from gazebench.cache import Cache
    from gazebench.device import seed_everything
    from gazebench.stages import Context, build, estimator_key, purifier_keys

    import ray

    t0 = time.perf_counter()
    # Ray resolves object refs given as arguments, not those inside a dict: fetch the group's data
    payload = {k: ray.get(v) if isinstance(v, ray.ObjectRef) else v for k, v in payload.items()}
    pm = get_plugin_manager()
    cfg = job["cfg"]
    ctx = Context(cfg, pm, stderr_log, job["device"], Cache(job["cache"], enabled=True, clean=False))
    out: dict[str, Any] = {}
    try:
        if kind == "purify":
            probe = build(pm, "purifier", name, ctx.params(name), ctx.device)
            _same_key(purifier_keys(ctx, probe, payload["inputs"])[1], job["key"], name)
            _, out["stats"] = purify_test(ctx, probe, job["train_name"], payload["inputs"])
        elif kind == "fit":
            seed_everything(cfg.seed)
            _same_key(estimator_key(ctx, build(pm, "estimator", name, ctx.params(name), ctx.device), payload["train"]),
                      job["key"], name)
            _, out["stats"] = fit_estimator(ctx, name, payload["train"], job["train_name"])
        elif kind == "score":
            from gazebench.scoring import score

            seed_everything(cfg.seed)
            est = build(pm, "estimator", name, ctx.params(name), ctx.device)
            est.load(ctx.cache.path("estimators", name, payload["est_key"]))
            test = payload["test"]
            purified = {n: test.replace(images=load_state(ctx.cache.path("purified", n, k, ".pt"))["images"].cpu())
                        for n, k in payload["purified"].items()}
            stats = dict(payload["est_stats"])
            out["rows"] = score(ctx, est, stats, payload["data"], purified, payload["pur_stats"])
            out["predict_seconds_per_image"] = stats.get("predict_seconds_per_image")
            save_score(ctx.cache.path("scores", name, payload["score_key"], ".json"), out["rows"],
                       out["predict_seconds_per_image"])
        else:
            raise RunError(f"unknown task kind {kind!r}")
    except PluginError as exc:  # plugin errors are one line; Ray's traceback would bury them
        raise RunError(str(exc)) from None
    out.update(notes=list(ctx.notes), seconds=time.perf_counter() - t0, node=platform.node())
    return out


__all__ = ["EXECUTORS", "execute", "run_grid"]
