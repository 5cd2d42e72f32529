"""Experiment files: ``gazebench run --config exp.toml`` and ``gazebench run --rerun RECORD.json``.

A TOML file says everything the command line can (the same names, with underscores), per-component
parameters under ``[params.NAME]``, and a ``[matrix]`` of axes::

    train = "unityeyes"                  # a name, or a list: one set of rows each
    test = "mpiigaze"
    estimators = ["knn", "cnn"]          # a list, or "all"
    purifiers = ["identity", "johnson"]
    seeds = [0, 1, 2]
    n_train = 1000
    executor = "local"                   # or "ray" (address = "auto" for a running cluster)

    [params.cnn]
    epochs = 5

    [matrix]
    "knn.k" = [5, 10]                    # COMPONENT.PARAM, or any option above: one record per point
    n_train = [1000, 10000]

``estimators``, ``purifiers``, ``train`` and ``seeds`` are axes of every run already (the rows of
one record); any other ``[matrix]`` key multiplies the runs: one record per point of the product,
its point in the record's ``config.grid``. Options given on the command line override the file (an
overridden axis is dropped). Every problem (an unknown key, a wrong type, an unknown component, a
bad parameter) is a one-line :class:`ConfigError` naming the file and the key, before any work.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Callable

from gazebench.plugins import PluginError, PluginManager
from gazebench.stages import RunError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

#: the run's list axes: a ``[matrix]`` entry for one of these is just its list
LIST_AXES = ("estimators", "purifiers", "train", "seeds")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
#: ``masks`` / ``pupil_segmenter`` values that are not segmenter names
_MASK_WORDS = ("auto", "dataset", "landmarks", "")


class ConfigError(RunError):
    """A problem in an experiment file, reported in one line naming the file and the key."""


# -- value checkers: each returns the RunConfig value or raises ValueError with what it expected --

def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("expected a string")
    return v


def _count(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError("expected an integer >= 0 (0: all)")
    return v or None


def _seed(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
        raise ValueError("expected an integer in [0, 2**63)")
    return v


def _seeds(v: Any) -> list[int]:
    if not isinstance(v, list) or not v:
        raise ValueError("expected a non-empty list of seeds, e.g. [0, 1, 2]")
    return [_seed(x) for x in v]


def _names(v: Any) -> list[str]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items or not all(isinstance(x, str) and x.strip() for x in items):
        raise ValueError("expected a name or a non-empty list of names")
    return [n.strip() for x in items for n in x.split(",") if n.strip()]


def _size(v: Any) -> tuple[int, int]:
    if isinstance(v, str):
        parts = v.lower().split("x")
        v = [int(p) for p in parts] if len(parts) == 2 and all(p.isdigit() for p in parts) else None
    if (not isinstance(v, list) or len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in v)
            or min(v) < 8):
        raise ValueError('expected "HxW" or [H, W], each side at least 8, e.g. "36x60"')
    return int(v[0]), int(v[1])


def _device(v: Any) -> str:
    if not isinstance(v, str) or not _DEVICE.match(v.strip().lower()):
        raise ValueError("expected auto, cpu, mps, cuda or cuda:N")
    return v.strip().lower()


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("expected true or false")
    return v


def _executor(v: Any) -> str:
    from gazebench.executors import EXECUTORS

    if v not in EXECUTORS:
        raise ValueError(f"expected one of {', '.join(repr(e) for e in EXECUTORS)}")
    return v


def _optional_str(v: Any) -> str | None:
    return _str(v) or None


#: every key of an experiment file: its checker (file value -> RunConfig value)
KEYS: dict[str, Callable[[Any], Any]] = {
    "train": _names, "test": _str, "estimators": _names, "purifiers": _names, "content": _str,
    "masks": _str, "size": _size, "n_train": _count, "n_test": _count, "n_unlabelled": _count,
    "seed": _seed, "seeds": _seeds, "device": _device, "train_root": _str, "test_root": _str,
    "content_root": _str, "out": _str, "plots": _str, "pupil_segmenter": _optional_str, "cache": _bool,
    "cache_dir": _str, "executor": _executor, "address": _str,
}
#: keys that cannot be matrix axes: where the grid goes and how it runs are one per grid
NOT_AXES = ("out", "plots", "cache", "cache_dir", "executor", "address", "seed")


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed file; a one-line :class:`ConfigError` for a missing file or bad TOML."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {str(exc).splitlines()[0]}") from None


def load_config(path: str | Path, pm: PluginManager, overrides: dict[str, Any] | None = None,
                command: str = "") -> list[Any]:
    """The grid points of experiment file ``path`` as :class:`gazebench.runner.RunConfig` objects,
    with ``overrides`` (RunConfig field -> value, from the command line) applied and every name,
    type and parameter checked. ``overrides["params"]`` merges into the file's per component."""
    return expand(read_toml(path), str(path), pm, overrides, command)


def expand(doc: dict[str, Any], where: str, pm: PluginManager, overrides: dict[str, Any] | None = None,
           command: str = "") -> list[Any]:
    """:func:`load_config` on a parsed document; ``where`` names it in errors."""
    from gazebench.runner import RunConfig

    overrides = dict(overrides or {})

    def fail(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {msg}")

    base: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("params", "matrix"):
            continue
        if key not in KEYS:
            raise fail(key, f"unknown key (known: {', '.join(sorted([*KEYS, 'params', 'matrix']))})")
        base[key] = _check(key, value, fail)
    params = _params(doc.get("params", {}), fail)
    axes = _axes(doc.get("matrix", {}), base, fail)
    # the command line wins: its options replace the file's values and drop the file's axes on them
    cli_params = overrides.pop("params", {}) or {}
    for name, values in cli_params.items():
        params[name] = {**params.get(name, {}), **values}
        for p in values:
            axes.pop(f"{name}.{p}", None)
    for key in overrides:
        axes.pop(key, None)
        base.pop(key, None)
    if "seed" in overrides:  # --seed on the command line means that one seed, not the file's list
        base.pop("seeds", None)
    cfg = RunConfig(params=params, command=command, **{k: _as_field(k, v) for k, v in base.items()})
    cfg = replace(cfg, **overrides)
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] if axes else [{}]
    cfgs = []
    for i, point in enumerate(points):
        c = replace(cfg, grid=point, params={k: dict(v) for k, v in cfg.params.items()})
        for key, value in point.items():
            if key in KEYS:
                c = replace(c, **{key: _as_field(key, value)})
            else:
                comp, _, opt = key.partition(".")
                c.params.setdefault(comp, {})[opt] = value
        if len(points) > 1 and c.out and not Path(c.out).is_dir() and Path(c.out).suffix:
            c = replace(c, out=str(Path(c.out).with_name(f"{Path(c.out).stem}-{i + 1}{Path(c.out).suffix}")))
        if len(points) > 1 and c.plots:  # one folder per point: the plots have fixed names
            c = replace(c, plots=str(Path(c.plots) / f"point-{i + 1}"))
        cfgs.append(c)
    cfgs = with_all(cfgs, pm)
    for c in cfgs:
        _check_names(c, pm, where)
    return cfgs


def _as_field(key: str, value: Any) -> Any:
    """A checked file value in RunConfig's form: one training set is a string, several a list."""
    if key == "train" and isinstance(value, list):
        return value[0] if len(value) == 1 else value
    return value


def _check(key: str, value: Any, fail: Callable[[str, str], ConfigError]) -> Any:
    try:
        return KEYS[key](value)
    except ValueError as exc:
        raise fail(key, f"{exc}, got {json.dumps(value, default=str)}") from None


def _params(table: Any, fail: Callable[[str, str], ConfigError]) -> dict[str, dict[str, Any]]:
    if not isinstance(table, dict):
        raise fail("params", "expected tables [params.NAME] of NAME's constructor parameters")
    out = {}
    for name, values in table.items():
        if not isinstance(values, dict):
            got = json.dumps(values, default=str)
            raise fail(f"params.{name}", f"expected a table of {name}'s parameters, got {got}")
        out[name] = dict(values)
    return out


def _axes(table: Any, base: dict[str, Any], fail: Callable[[str, str], ConfigError]) -> dict[str, list[Any]]:
    """The ``[matrix]`` table: list axes go into ``base``; the others (checked) are returned."""
    if not isinstance(table, dict):
        raise fail("matrix", "expected a table of axes, e.g. [matrix] n_train = [100, 1000]")
    axes: dict[str, list[Any]] = {}
    for key, values in table.items():
        at = f"matrix.{key}"
        if not isinstance(values, list) or not values:
            raise fail(at, f"expected a non-empty list of values, got {json.dumps(values, default=str)}")
        if key in LIST_AXES:
            if key in base:
                raise fail(at, f"given twice: as {key} and as a matrix axis")
            base[key] = _check(key, values, lambda _, msg: fail(at, msg))
        elif key in KEYS:
            if key in NOT_AXES:
                raise fail(at, f"{key} is one per grid, not an axis")
            axes[key] = [_check(key, v, lambda _, msg: fail(at, msg)) for v in values]
        elif re.fullmatch(r"[^.\s]+\.[^.\s]+", key):
            axes[key] = list(values)
        else:
            raise fail(at, "unknown axis: expected an option (n_train, size, ...) or COMPONENT.PARAM")
    return axes


def _check_names(cfg: Any, pm: PluginManager, where: str) -> None:
    """Every component the point names is registered and every parameter suits its constructor."""
    def missing(key: str, kind: str, name: str) -> ConfigError:
        names = pm.registry(kind).names()
        return ConfigError(f"{where}: {key}: no {kind} named {name!r} (registered: {', '.join(names) or 'none'})")

    named = [("estimators", "estimator", n) for n in cfg.estimators if n != "all"]
    named += [("purifiers", "purifier", n) for n in cfg.purifiers if n != "all"]
    trains = [cfg.train] if isinstance(cfg.train, str) else list(cfg.train or [])
    named += [("train", "dataset", n) for n in trains] + [(k, "dataset", getattr(cfg, k)) for k in ("test", "content")
                                                           if getattr(cfg, k)]
    named += [(k, "segmenter", getattr(cfg, k)) for k in ("masks", "pupil_segmenter")
              if (getattr(cfg, k) or "") not in _MASK_WORDS]
    for key, kind, name in named:
        if name not in pm.registry(kind):
            raise missing(key, kind, name)
    kinds = ("estimator", "purifier", "dataset", "segmenter")
    for name, values in cfg.params.items():
        owners = [k for k in kinds if name in pm.registry(k)]
        if not owners:
            raise ConfigError(f"{where}: params.{name}: no component is named {name!r} (see `gazebench plugins`)")
        try:
            pm.check_params(owners[0], name, values)
        except PluginError as exc:
            text = str(exc).replace(f"-o {name}.", f"params.{name}.")  # the file's words, not the CLI's
            point = f" (matrix point {', '.join(f'{k} = {v!r}' for k, v in cfg.grid.items())})" if cfg.grid else ""
            raise ConfigError(f"{where}: {text}{point}") from None


def with_all(cfgs: list[Any], pm: PluginManager) -> list[Any]:
    """``"all"`` in estimators/purifiers replaced by every registered one."""
    def expand_all(names: list[str], kind: str) -> list[str]:
        return pm.registry(kind).names() if "all" in names else names

    return [replace(c, estimators=expand_all(c.estimators, "estimator"), purifiers=expand_all(c.purifiers, "purifier"))
            for c in cfgs]


# -- rerun ------------------------------------------------------------------------------------

#: record config keys that describe what happened, not what was asked
_DERIVED = ("device_resolved", "masks_from", "command", "out")


def rerun_config(path: str | Path, pm: PluginManager, overrides: dict[str, Any] | None = None,
                 command: str = "") -> list[Any]:
    """The configuration a run record ran with (its ``config``), as a one-point grid, with
    ``overrides`` applied; the new record gets a new name unless ``out`` is overridden."""
    from gazebench.results import RUN_SCHEMAS
    from gazebench.runner import RunConfig

    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON record: {str(exc).splitlines()[0]}") from None
    schema = record.get("schema") if isinstance(record, dict) else None
    if schema not in RUN_SCHEMAS or not isinstance(record.get("config"), dict):
        raise ConfigError(f"{path}: not a run record (schema {schema!r}; expected one of {', '.join(RUN_SCHEMAS)})")
    known = {f.name for f in fields(RunConfig)}
    given = {k: v for k, v in record["config"].items() if k in known and k not in _DERIVED}
    if isinstance(given.get("size"), list):
        given["size"] = tuple(given["size"])
    overrides = dict(overrides or {})
    params = {k: dict(v) for k, v in (given.pop("params", None) or {}).items()}
    for name, values in (overrides.pop("params", None) or {}).items():
        params[name] = {**params.get(name, {}), **values}
    if "seed" in overrides:
        given.pop("seeds", None)
    cfg = replace(RunConfig(**given, params=params, command=command), **overrides)
    _check_names(cfg, pm, str(path))
    return [cfg]


__all__ = ["ConfigError", "KEYS", "LIST_AXES", "expand", "load_config", "read_toml", "rerun_config", "with_all"]
