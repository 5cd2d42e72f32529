"""Checking the parameters given to a component (``-o NAME.PARAM=VALUE``) against its constructor.

Before a component is built, each parameter must be one its constructor takes (unless it takes
``**kwargs``), and each value must fit the parameter's annotation: ``int``, ``float``, ``bool``,
``str``, ``None``, unions of them (``int | None``), ``Literal[...]``, and sequences
(``list[int]``, ``Sequence[int]``, ``tuple[int, int]``). A value that does not fit is a one-line
:class:`gazebench.plugins.ComponentParameterError` naming the option, the type expected and an
example, before any data is read. A component may also declare ``param_ranges`` (a class
attribute ``{param: (low, high)}``, ``None`` for an open end) for numbers its annotation allows but
its method does not (``iterations=-5``). Annotations this module does not understand (a class, a
``Callable``, a name it cannot resolve) are not checked: the component checks those itself.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import sys
import types
import typing
from typing import Any

_NOT_CHECKED = object()


def _hints(factory: Any) -> tuple[inspect.Signature | None, dict[str, Any]]:
    """The signature of ``factory`` (a class: its ``__init__``) and each parameter's annotation,
    resolved one by one so that one unresolvable name leaves only that parameter unchecked."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None, {}
    func = factory.__init__ if inspect.isclass(factory) else factory
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    scope = {**vars(typing), **vars(collections.abc), **(vars(module) if module else {})}
    hints: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        ann = param.annotation
        if ann is inspect.Parameter.empty:
            continue
        try:
            # a string twice over when a quoted annotation meets `from __future__ import annotations`
            for _ in range(2):
                if isinstance(ann, str):
                    ann = eval(ann, scope)  # noqa: S307 - the plugin's own annotation text, in its module
        except Exception:
            continue
        hints[name] = ann
    return sig, hints


def _fits(value: Any, tp: Any) -> bool | object:
    """Whether ``value`` fits annotation ``tp``; ``_NOT_CHECKED`` when ``tp`` is not understood."""
    if tp is Any or tp is object:
        return True
    if tp is None or tp is type(None):
        return value is None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        results = [_fits(value, a) for a in args]
        if any(r is True for r in results):
            return True
        return _NOT_CHECKED if any(r is _NOT_CHECKED for r in results) else False
    if origin is typing.Literal:
        return value in args
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    seq_origin = origin or tp
    if seq_origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable,
                      collections.abc.Collection):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return False
        if not args:
            return True
        if seq_origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                return False
            results = [_fits(v, a) for v, a in zip(value, args)]
        else:
            results = [_fits(v, args[0]) for v in value]
        if all(r is True for r in results):
            return True
        return False if any(r is False for r in results) else _NOT_CHECKED
    return _NOT_CHECKED


def describe(tp: Any) -> str:
    """An annotation in words: ``int | None`` -> ``"an int or null"``."""
    if tp is None or tp is type(None):
        return "null"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    words = {int: "an int", float: "a number", bool: "true or false", str: "a string"}
    if tp in words:
        return words[tp]
    seq_origin = origin or tp
    if seq_origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
    if args:
        return f"a list of {describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    return getattr(tp, "__name__", str(tp))


def _example(tp: Any, default: Any) -> str | None:
    """A value that fits ``tp``, as typed after ``=``: the default when it fits and is not null."""
    if default is not inspect.Parameter.empty and default is not None and _fits(default, tp) is True:
        if isinstance(default, str):
            return default  # typed bare after -o, as a string stays a string
        return json.dumps(list(default) if isinstance(default, tuple) else default)
    samples: list[Any] = [1, 0.5, True, "text", [0, 1]]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        samples = list(args)
    if (origin or tp) is tuple and args and args[-1] is not Ellipsis:
        samples.insert(0, [_sample(a) for a in args])
    for value in samples:
        if _fits(value, tp) is True:
            return value if isinstance(value, str) else json.dumps(value)
    return None


def _sample(tp: Any) -> Any:
    for value in (1, 0.5, True, "text"):
        if _fits(value, tp) is True:
            return value
    return None


def check_params(factory: Any, params: dict[str, Any], *, kind: str, name: str) -> None:
    """Raise a one-line ``ComponentParameterError`` naming ``-o name.param`` unless each of
    ``params`` is taken by ``factory`` and fits its annotation."""
    from gazebench.plugins import ComponentParameterError

    sig, hints = _hints(factory)
    if sig is None:
        return
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    known = [n for n, p in sig.parameters.items()
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    for key, value in params.items():
        if key not in sig.parameters or sig.parameters[key].kind not in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            if takes_any:
                continue
            raise ComponentParameterError(
                f"-o {name}.{key}: {kind} {name!r} has no parameter {key!r}; it takes "
                f"{', '.join(known) or 'none'}")
        tp = hints.get(key, _NOT_CHECKED)
        if tp is _NOT_CHECKED or _fits(value, tp) is not False:
            continue
        given = value if isinstance(value, str) else json.dumps(value)  # as typed after -o
        example = _example(tp, sig.parameters[key].default)
        fix = f", e.g. -o {name}.{key}={example}" if example is not None else ""
        raise ComponentParameterError(
            f"-o {name}.{key}={given}: {kind} {name!r} expects {describe(tp)}{fix}")
    for key, (low, high) in (getattr(factory, "param_ranges", None) or {}).items():
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"at most {high}" if low is None else f"in [{low}, {high}]"
            raise ComponentParameterError(f"-o {name}.{key}={json.dumps(value)}: {kind} {name!r} takes {key} {bounds}")
