"""``gazebench speed``: seconds per image of purifiers across resolutions (the paper's Table 1).

Rules (as kornia's benchmarks): warm up first, synchronise the device inside the timed region,
repeat and report the median with the spread, seed everything, write ``null`` for a measurement
that failed (an out-of-memory size is a row saying so, not a crash).

Optimisation-based purifiers name their iteration parameter (``Purifier.iteration_param``). Timing 400
L-BFGS iterations at 1024 px on a CPU takes hours, so the purifier is timed at two small
iteration counts ``k1 < k2`` and the cost is projected linearly, ``t(N) = t(k1) + (N - k1) *
(t(k2) - t(k1)) / (k2 - k1)``, which keeps the fixed set-up cost (feature extraction of the
content and style images) out of the per-iteration slope. Such rows say ``projected: true``.

The images come from a dataset (``dataset``, default: the default test set, rendered at each
resolution) and are fed as 3-channel RGB; speed-ups are reported against every timed purifier
that declares itself a ``speed_baseline`` (or those named in ``baselines``).

Precision and layout options (``dtype``, ``channels_last``, ``compile``) reach a purifier only
when its constructor takes a parameter of that name; otherwise the row records the option as
unsupported rather than silently timing something else.
"""

from __future__ import annotations

import inspect
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from gazebench.plugins import PluginManager, get_plugin_manager
from gazebench.results import SCHEMA_SPEED, finish_record, new_record


@dataclass
class SpeedConfig:
    """Every option of a speed run; recorded verbatim."""

    purifiers: list[str] = field(default_factory=list)
    resolutions: list[int] = field(default_factory=lambda: [256, 512, 1024])
    device: str = "auto"
    repeats: int = 3
    warmup: int = 1
    batch: int = 4
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    iterations: int = 400
    timed_iterations: tuple[int, int] = (2, 12)
    #: purifiers the speed-up columns compare against (empty: those declaring ``speed_baseline``)
    baselines: list[str] = field(default_factory=list)
    #: dataset whose test images are timed (None: the default test set)
    dataset: str | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    out: str | None = None
    command: str = ""


def _accepts(factory: Any) -> set[str]:
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def time_call(fn: Callable[[], Any], *, repeats: int, warmup: int, sync: Callable[[], None]) -> list[float]:
    """Wall seconds of ``fn()`` for each of ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
        sync()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()  # inside the timed region: asynchronous devices must finish the work
        times.append(time.perf_counter() - t0)
    return times


def project(t_k1: float, t_k2: float, k1: int, k2: int, n: int) -> float:
    """Seconds for ``n`` iterations from timings at ``k1`` and ``k2``: fixed cost + n x slope."""
    return t_k1 + (n - k1) * (t_k2 - t_k1) / (k2 - k1)


def _inputs(pm: PluginManager, dataset: str, params: dict[str, Any], resolution: int, n: int, seed: int) -> Any:
    """``n`` test images of ``dataset`` at ``resolution`` px square, RGB, without labels."""
    from gazebench.types import to_rgb

    batch = pm.create("dataset", dataset, **params).load("test", size=(resolution, resolution), limit=n,
                                                          seed=seed).take()
    return batch.replace(images=to_rgb(batch.images)).without_labels()


def measure(cfg: SpeedConfig, *, pm: PluginManager | None = None,
            log: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    """One row per purifier x resolution."""
    import torch

    from gazebench.defaults import default_data
    from gazebench.device import resolve_device, seed_everything
    from gazebench.stages import check_purified

    pm = pm or get_plugin_manager()
    device = resolve_device(cfg.device)
    dataset = cfg.dataset or default_data(pm)[1]
    sync = (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else (lambda: None)
    rows: list[dict[str, Any]] = []
    for name in cfg.purifiers:
        factory = pm.spec("purifier", name).load()
        accepts = _accepts(factory)
        base = {**getattr(factory, "timing_params", {}), **cfg.params.get(name, {})}
        unsupported = []
        for opt, value, default in (("dtype", cfg.dtype, "float32"), ("channels_last", cfg.channels_last, False),
                                    ("compile", cfg.compile, False)):
            if value != default:
                if opt in accepts:
                    base[opt] = value
                else:
                    unsupported.append(opt)
        if "device" in accepts:
            base["device"] = device
        iter_param = getattr(factory, "iteration_param", None)
        iterative = bool(iter_param)
        for res in cfg.resolutions:
            row: dict[str, Any] = {"purifier": name, "resolution": res, "device": device,
                                   "dtype": cfg.dtype, "seconds_per_image": None, "seconds_min": None,
                                   "seconds_max": None, "images_per_second": None, "batch": None,
                                   "projected": iterative, "iterations": cfg.iterations if iterative else None,
                                   "unsupported": unsupported, "error": None}
            rows.append(row)
            if unsupported:
                row["error"] = f"purifier does not take {', '.join(unsupported)}"
                continue
            log(f"timing {name} at {res}x{res} ...")
            try:
                seed_everything(cfg.seed)
                one = _inputs(pm, dataset, cfg.params.get(dataset, {}), res, 1, cfg.seed)
                tiny = _inputs(pm, dataset, cfg.params.get(dataset, {}), 32, 2, cfg.seed)

                def fitted(**extra: Any) -> Any:
                    # the cost of purify does not depend on what was learned: a minimal fit
                    pur = pm.create("purifier", name, **{**base, **extra})
                    pur = pur.fit(tiny, tiny) if pur.needs_fit else pur
                    row["notes"] = list(pur.record_notes())
                    # the contract first (this call is the first warm-up): timing a purifier that
                    # returns the wrong thing times nothing
                    check_purified(name, pur.purify(one), one.images)
                    return pur

                if iterative:
                    k1, k2 = cfg.timed_iterations
                    med = {}
                    for k in (k1, k2):
                        pur = fitted(**{iter_param: k})
                        times = time_call(lambda p=pur: p.purify(one), repeats=cfg.repeats,
                                          warmup=max(0, cfg.warmup - 1), sync=sync)
                        med[k] = (statistics.median(times), min(times), max(times))
                    n = cfg.iterations
                    if med[k2][0] <= med[k1][0]:
                        raise RuntimeError(f"timing too noisy to project: {k2} iterations took no longer "
                                           f"than {k1} ({med[k2][0]:.3g} s vs {med[k1][0]:.3g} s); "
                                           "raise --timed-iterations or --repeats")
                    row.update(seconds_per_image=project(med[k1][0], med[k2][0], k1, k2, n),
                               seconds_min=project(med[k1][1], med[k2][1], k1, k2, n),
                               seconds_max=project(med[k1][2], med[k2][2], k1, k2, n),
                               timed_iterations=[k1, k2],
                               seconds_per_iteration=(med[k2][0] - med[k1][0]) / (k2 - k1))
                else:
                    pur = fitted()
                    times = time_call(lambda: pur.purify(one), repeats=cfg.repeats, warmup=max(0, cfg.warmup - 1),
                                      sync=sync)
                    row.update(seconds_per_image=statistics.median(times), seconds_min=min(times),
                               seconds_max=max(times))
                    if cfg.batch > 1:
                        many = _inputs(pm, dataset, cfg.params.get(dataset, {}), res, cfg.batch, cfg.seed)
                        bt = time_call(lambda: pur.purify(many), repeats=cfg.repeats, warmup=1, sync=sync)
                        row.update(batch=cfg.batch, images_per_second=cfg.batch / statistics.median(bt))
                    else:
                        row.update(batch=1, images_per_second=1 / row["seconds_per_image"])
            except Exception as exc:  # a failed size is a row, not a crash
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                row["error"] = "out of memory" if _is_oom(exc) else f"{type(exc).__name__}: {exc}"
                log(f"{name} at {res}: {row['error']}")
    baselines = cfg.baselines or [n for n in cfg.purifiers
                                  if getattr(pm.spec("purifier", n).load(), "speed_baseline", False)]
    _speedups(rows, baselines)
    return rows


def _speedups(rows: list[dict[str, Any]], baselines: list[str]) -> None:
    by = {(r["purifier"], r["resolution"]): r["seconds_per_image"] for r in rows}
    for r in rows:
        for b in baselines:
            ref = by.get((b, r["resolution"]))
            mine = r["seconds_per_image"]
            r[f"speedup_vs_{b}"] = ref / mine if ref and mine else None


def run_speed(cfg: SpeedConfig, *, pm: PluginManager | None = None,
              log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Measure, write the ``gazebench.speed/1`` record, hand it to plugins, return it."""
    pm = pm or get_plugin_manager()
    record = new_record(SCHEMA_SPEED, cfg, pm, None)
    rows = measure(cfg, pm=pm, log=log)
    record["environment"]["device"] = rows[0]["device"] if rows else None
    record.update(notes=list(dict.fromkeys(n for r in rows for n in r.get("notes", []))), rows=rows)
    return finish_record(record, cfg.out, "speed", pm)
