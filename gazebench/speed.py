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
that declares itself a ``speed_baseline`` (or those named in ``baselines``), at its first
:meth:`~gazebench.api.Purifier.speed_variants` row (Gatys: on the VGG-19 architecture, as the
paper timed it) and fp32 eager.

Speed knobs (``dtype``, ``channels_last``, ``compile``) reach a purifier only when its
constructor takes a parameter of that name; otherwise the row records the option as unsupported
rather than silently timing something else. With a knob set, every purifier is timed twice,
interleaved round by round: fp32 eager (the reference) and the knob setting, which gets the
reference's fitted state (``save``/``load``) and records its output difference from the
reference on the same image (``max_error``/``mean_error``, grey levels) and its speed-up.

Distance to the limit (``gazebench.limit``): each row's FLOPs per image (counted once, on the
reference), achieved GFLOP/s, and the fraction of the peak a matmul and a conv probe measure in
the setting's precision and layout before and after every timed round (median of those probes);
images/s at the best batch of 1, 2, 4, ... up to ``batch``.
"""

from __future__ import annotations

import inspect
import statistics
import tempfile
import time
from pathlib import Path
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
    #: largest batch of the throughput column: 1, 2, 4, ... up to it are timed, the best reported
    batch: int = 4
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    #: further knob settings, each timed as its own rows (``parse_setting``: "bf16+channels_last")
    settings: list[str] = field(default_factory=list)
    iterations: int = 400
    timed_iterations: tuple[int, int] = (2, 12)
    #: purifiers the speed-up columns compare against (empty: those declaring ``speed_baseline``)
    baselines: list[str] = field(default_factory=list)
    #: dataset whose test images are timed (None: the default test set)
    dataset: str | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: measure the machine's peak (matmul and conv probes) beside the timings
    probe: bool = True
    seed: int = 0
    out: str | None = None
    command: str = ""


#: the setting every other one is compared with
REFERENCE = "fp32 eager"
KNOBS = (("dtype", "float32"), ("channels_last", False), ("compile", False))
_SHORT = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def parse_setting(text: str) -> dict[str, Any]:
    """A knob setting from ``+``-joined words: a precision (``fp32``/``bf16``/``fp16`` or their long
    names), ``channels_last``, ``compile``; e.g. ``bf16+channels_last``. ``ValueError`` otherwise."""
    from gazebench.limit import DTYPES

    out: dict[str, Any] = {"dtype": "float32", "channels_last": False, "compile": False}
    for word in (w.strip().lower().replace("-", "_") for w in text.split("+")):
        if word in DTYPES:
            out["dtype"] = DTYPES[word]
        elif word in ("channels_last", "compile"):
            out[word] = True
        elif word not in ("eager", ""):
            raise ValueError(f"setting {text!r}: {word!r} is not fp32, bf16, fp16, channels_last or compile")
    return out


def _setting_name(st: dict[str, Any]) -> str:
    parts = ([_SHORT[st["dtype"]]] if st["dtype"] != "float32" else []) + \
        [k for k in ("channels_last", "compile") if st[k]]
    return " + ".join(parts) or REFERENCE


def settings(cfg: SpeedConfig) -> list[dict[str, Any]]:
    """The reference (fp32 eager) first, then each distinct knob setting: those of ``cfg.settings``
    and the one the ``dtype``/``channels_last``/``compile`` options make, each with its name."""
    from gazebench.limit import DTYPES

    wanted = [parse_setting(t) for t in cfg.settings]
    wanted.append({"dtype": DTYPES[cfg.dtype], "channels_last": bool(cfg.channels_last),
                   "compile": bool(cfg.compile)})
    out = [{"setting": REFERENCE, "dtype": "float32", "channels_last": False, "compile": False}]
    for st in wanted:
        named = {"setting": _setting_name(st), **st}
        if named not in out:
            out.append(named)
    return out


def method_label(purifier: str, variant: str | None, setting: str) -> str:
    """The row's name in tables: purifier, its speed variant, its setting unless fp32 eager."""
    out = purifier + (f": {variant}" if variant else "")
    return out + (f", {setting}" if setting != REFERENCE else "")


def _accepts(factory: Any) -> set[str]:
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def _err(exc: BaseException) -> str:
    return "out of memory" if _is_oom(exc) else f"{type(exc).__name__}: {exc}"


def time_call(fn: Callable[[], Any], *, repeats: int, warmup: int, sync: Callable[[], None]) -> list[float]:
    """Wall seconds of ``fn()`` for each of ``repeats`` runs after ``warmup`` untimed runs."""
    return time_interleaved([fn], repeats=repeats, warmup=warmup, sync=sync)[0]


def time_interleaved(fns: list[Callable[[], Any]], *, repeats: int, warmup: int, sync: Callable[[], None],
                     between: Callable[[], Any] | None = None) -> list[list[float]]:
    """Wall seconds of each of ``fns`` over ``repeats`` rounds, one run of each per round (order
    reversed every other round), after ``warmup`` untimed rounds; ``between()`` runs before the
    first and after every timed round, outside the timings (the peak probes). Interleaving
    makes A/B comparisons fair on a machine whose load drifts."""
    for _ in range(warmup):
        for fn in fns:
            fn()
            sync()
    times: list[list[float]] = [[] for _ in fns]
    if between is not None:
        between()
    for r in range(repeats):
        order = list(range(len(fns)))[::(-1 if r % 2 else 1)]
        for i in order:
            sync()
            t0 = time.perf_counter()
            fns[i]()
            sync()  # inside the timed region: asynchronous devices must finish the work
            times[i].append(time.perf_counter() - t0)
        if between is not None:
            between()
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


def _variants(pm: PluginManager, name: str, base: dict[str, Any], user: dict[str, Any]) -> list[tuple[str | None, dict]]:
    """The purifier's declared speed variants (user ``-o`` values win; duplicates dropped), or one
    unnamed row."""
    probe = pm.create("purifier", name, **base)
    declared = getattr(probe, "speed_variants", None)
    declared = declared() if callable(declared) else {}
    out: list[tuple[str | None, dict]] = []
    seen: list[dict] = []
    for label, params in (declared or {}).items():
        params = {k: v for k, v in params.items() if k not in user}
        if params not in seen:
            seen.append(params)
            out.append((label, params))
    return out or [(None, {})]


def _new_row(name: str, variant: str | None, st: dict[str, Any], res: int, device: str, iterative: bool,
             iterations: int, primary: bool) -> dict[str, Any]:
    return {"purifier": name, "variant": variant, "setting": st["setting"],
            "method": method_label(name, variant, st["setting"]), "primary": primary,
            "resolution": res, "device": device, "dtype": st["dtype"], "channels_last": st["channels_last"],
            "compile": st["compile"], "seconds_per_image": None, "seconds_min": None, "seconds_max": None,
            "images_per_second": None, "batch": None, "batch_images_per_second": None,
            "projected": iterative, "iterations": iterations if iterative else None,
            "gflop_per_image": None, "gflops": None, "peak_gflops": None, "peak_probes": [],
            "fraction_of_peak": None, "max_error": None, "mean_error": None,
            "error_vs": None if st["setting"] == REFERENCE else REFERENCE, "unsupported": [], "error": None}


def measure(cfg: SpeedConfig, *, pm: PluginManager | None = None,
            log: Callable[[str], Any] = print) -> list[dict[str, Any]]:
    """One row per purifier x speed variant x resolution x setting (fp32 eager, knob setting)."""
    import torch

    from gazebench.defaults import default_data
    from gazebench.device import resolve_device

    pm = pm or get_plugin_manager()
    device = resolve_device(cfg.device)
    dataset = cfg.dataset or default_data(pm)[1]
    sync = (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else (lambda: None)
    sets = settings(cfg)
    rows: list[dict[str, Any]] = []
    for name in cfg.purifiers:
        factory = pm.spec("purifier", name).load()
        accepts = _accepts(factory)
        user = cfg.params.get(name, {})
        base = {**getattr(factory, "timing_params", {}), **user}
        if "device" in accepts:
            base["device"] = device
        iter_param = getattr(factory, "iteration_param", None)
        variants = _variants(pm, name, base, user)
        for res in cfg.resolutions:
            for vi, (variant, vparams) in enumerate(variants):
                group = []
                for st in sets:
                    row = _new_row(name, variant, st, res, device, bool(iter_param), cfg.iterations,
                                   primary=vi == 0 and st["setting"] == REFERENCE)
                    rows.append(row)
                    row["unsupported"] = [k for k, d in KNOBS if st[k] != d and k not in accepts]
                    if row["unsupported"]:
                        row["error"] = f"purifier does not take {', '.join(row['unsupported'])}"
                    else:
                        group.append((row, st))
                if not group:
                    continue
                log(f"timing {method_label(name, variant, REFERENCE)} at {res}x{res} "
                    f"({', '.join(st['setting'] for _, st in group)}) ...")
                try:
                    _measure_group(cfg, pm, name, {**base, **vparams}, iter_param, group, dataset, res, device,
                                   sync, log)
                except Exception as exc:  # a failed size is a row, not a crash
                    if device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    for row, _ in group:
                        if row["error"] is None and row["seconds_per_image"] is None:
                            row["error"] = _err(exc)
                    log(f"{name} at {res}: {_err(exc)}")
    baselines = cfg.baselines or [n for n in cfg.purifiers
                                  if getattr(pm.spec("purifier", n).load(), "speed_baseline", False)]
    _speedups(rows, baselines)
    return rows


def _measure_group(cfg: SpeedConfig, pm: PluginManager, name: str, params: dict[str, Any], iter_param: str | None,
                   group: list[tuple[dict[str, Any], dict[str, Any]]], dataset: str, res: int, device: str,
                   sync: Callable[[], None], log: Callable[[str], Any]) -> None:
    """Time one purifier variant at one resolution in every setting of ``group``, interleaved."""
    from gazebench.device import seed_everything
    from gazebench.limit import count_flops, probe_peak
    from gazebench.stages import check_purified

    seed_everything(cfg.seed)
    data_params = cfg.params.get(dataset, {})
    one = _inputs(pm, dataset, data_params, res, 1, cfg.seed)
    tiny = _inputs(pm, dataset, data_params, 32, 2, cfg.seed)
    with tempfile.TemporaryDirectory(prefix="gazebench-speed-") as tmp:
        state = Path(tmp) / "fitted.pt"

        def make(st: dict[str, Any], **extra: Any) -> Any:
            knobs = {k: st[k] for k, d in KNOBS if st[k] != d}
            pur = pm.create("purifier", name, **{**params, **knobs, **extra})
            if pur.needs_fit:
                # every setting purifies with what one fit learned: the reference's error is the
                # knob's alone. The cost of purify does not depend on what was learned: a minimal fit
                if state.exists():
                    pur.load(state)
                else:
                    seed_everything(cfg.seed)
                    pur.fit(tiny, tiny)
                    pur.save(state)
            return pur

        def probes() -> None:
            if not cfg.probe:
                return
            done: dict[tuple, dict[str, float]] = {}
            for row, st in live:
                key = (st["dtype"], st["channels_last"])
                if key not in done:
                    done[key] = probe_peak(device, st["dtype"], st["channels_last"])
                row["peak_probes"].append({k: round(v, 2) for k, v in done[key].items()})

        ks = list(cfg.timed_iterations) if iter_param else [None]
        live: list[tuple[dict[str, Any], dict[str, Any]]] = []
        purs: dict[int, list[Any]] = {}
        outs: dict[int, Any] = {}
        for row, st in group:
            try:
                mine = [make(st, **({iter_param: k} if iter_param else {})) for k in ks]
                # the contract first (this call is the first warm-up): timing a purifier that
                # returns the wrong thing times nothing
                for pur in mine:
                    out = pur.purify(one)
                    check_purified(name, out, one.images)
                row["notes"] = list(mine[-1].record_notes())
            except Exception as exc:  # e.g. a knob this build cannot run: the other settings go on
                row["error"] = _err(exc)
                log(f"{row['method']} at {res}: {row['error']}")
                continue
            live.append((row, st))
            purs[id(row)], outs[id(row)] = mine, out
        if not live:
            return
        ref = next(((r, st) for r, st in live if st["setting"] == REFERENCE), None)
        for row, _ in live:
            if ref is not None and row is not ref[0]:
                diff = (outs[id(row)].int() - outs[id(ref[0])].int()).abs()
                row.update(max_error=float(diff.max()), mean_error=round(float(diff.float().mean()), 4))
            if iter_param:
                row["error_at_iterations"] = ks[-1]

        fns = [(row, i, lambda p=p: p.purify(one)) for row, _ in live for i, p in enumerate(purs[id(row)])]
        times = time_interleaved([f for _, _, f in fns], repeats=cfg.repeats, warmup=max(0, cfg.warmup - 1),
                                 sync=sync, between=probes)
        med = {(id(row), i): (statistics.median(t), min(t), max(t)) for (row, i, _), t in zip(fns, times)}
        if iter_param:
            k1, k2, n = ks[0], ks[1], cfg.iterations
            for row, _ in live:
                a, b = med[(id(row), 0)], med[(id(row), 1)]
                if b[0] <= a[0]:
                    row["error"] = (f"timing too noisy to project: {k2} iterations took no longer than {k1} "
                                    f"({b[0]:.3g} s vs {a[0]:.3g} s); raise --timed-iterations or --repeats")
                    continue
                row.update(seconds_per_image=project(a[0], b[0], k1, k2, n),
                           seconds_min=project(a[1], b[1], k1, k2, n), seconds_max=project(a[2], b[2], k1, k2, n),
                           timed_iterations=[k1, k2], seconds_per_iteration=(b[0] - a[0]) / (k2 - k1))
        else:
            for row, _ in live:
                t = med[(id(row), 0)]
                row.update(seconds_per_image=t[0], seconds_min=t[1], seconds_max=t[2])
            _throughput(cfg, pm, dataset, data_params, res, live, purs, sync)

        # the work, counted once on the reference (precision and layout do not change it)
        counted = ref or live[0]
        if iter_param:
            # FLOPs grow by the same amount every iteration: count 1 and 2, project like the time
            f1, f2 = (count_flops(lambda k=k: make(counted[1], **{iter_param: k}).purify(one)) for k in (1, 2))
            flops = f1 + (cfg.iterations - 1) * (f2 - f1)
        else:
            p = purs[id(counted[0])][0]
            flops = count_flops(lambda: p.purify(one))
        for row, _ in live:
            row["gflop_per_image"] = flops / 1e9
            peaks = [p["peak"] for p in row["peak_probes"]]
            row["peak_gflops"] = statistics.median(peaks) if peaks else None
            if row["seconds_per_image"]:
                row["gflops"] = row["gflop_per_image"] / row["seconds_per_image"]
                if row["peak_gflops"]:
                    row["fraction_of_peak"] = row["gflops"] / row["peak_gflops"]


def _throughput(cfg: SpeedConfig, pm: PluginManager, dataset: str, data_params: dict[str, Any], res: int,
                live: list[tuple[dict[str, Any], dict[str, Any]]], purs: dict[int, list[Any]],
                sync: Callable[[], None]) -> None:
    """Images/s at batch 1 (from the latency), 2, 4, ... up to ``cfg.batch``; the best is the row's."""
    ips = {id(row): {1: 1.0 / row["seconds_per_image"]} for row, _ in live}
    b = 2
    while b <= cfg.batch:
        many = _inputs(pm, dataset, data_params, res, b, cfg.seed)
        fns = [lambda p=purs[id(row)][0]: p.purify(many) for row, _ in live]
        times = time_interleaved(fns, repeats=cfg.repeats, warmup=1, sync=sync)
        for (row, _), t in zip(live, times):
            ips[id(row)][b] = b / statistics.median(t)
        b *= 2
    for row, _ in live:
        best = max(ips[id(row)], key=ips[id(row)].get)
        row.update(batch=best, images_per_second=ips[id(row)][best],
                   batch_images_per_second={str(k): v for k, v in ips[id(row)].items()})


def _speedups(rows: list[dict[str, Any]], baselines: list[str]) -> None:
    """``speedup_vs_<b>``: each row against baseline ``b``'s primary row (first variant, fp32
    eager) at the same size; ``speedup_over_reference``: a knob row against its own fp32 eager row."""
    primary = {(r["purifier"], r["resolution"]): r["seconds_per_image"] for r in rows if r.get("primary")}
    ref = {(r["purifier"], r.get("variant"), r["resolution"]): r["seconds_per_image"]
           for r in rows if r.get("setting", REFERENCE) == REFERENCE}
    for r in rows:
        mine = r["seconds_per_image"]
        for b in baselines:
            base = primary.get((b, r["resolution"]))
            r[f"speedup_vs_{b}"] = base / mine if base and mine else None
        if r.get("setting", REFERENCE) != REFERENCE:
            base = ref.get((r["purifier"], r.get("variant"), r["resolution"]))
            r["speedup_over_reference"] = base / mine if base and mine else None


def run_speed(cfg: SpeedConfig, *, pm: PluginManager | None = None,
              log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Measure, write the ``gazebench.speed/1`` record, hand it to plugins, return it."""
    pm = pm or get_plugin_manager()
    record = new_record(SCHEMA_SPEED, cfg, pm, None)
    rows = measure(cfg, pm=pm, log=log)
    record["environment"]["device"] = rows[0]["device"] if rows else None
    record.update(notes=list(dict.fromkeys(n for r in rows for n in r.get("notes", []))), rows=rows)
    return finish_record(record, cfg.out, "speed", pm)
