"""The public kit for commands, built-in and third-party: option types and shared options.

A plugin command takes ``--size HxW``, ``--device``, ``-o NAME.PARAM=VALUE`` and dataset names
exactly as ``gazebench run`` does by importing from here, never from another command's module::

    from gazebench.cli import options

    @click.command("my-cmd")
    @options.dataset_option("--data", help="Dataset to read.")
    @options.size_option()
    @options.device_option()
    @options.set_option()
    def my_cmd(data, size, device, sets): ...   # size is (H, W); sets is {name: {param: value}}

Nothing here imports torch.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import click

from gazebench.plugins import get_plugin_manager

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def parse_size(text: str, minimum: int = 8) -> tuple[int, int]:
    """``"36x60"`` -> ``(36, 60)``; a click error for anything else or a side below ``minimum``."""
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected HxW, e.g. 36x60") from None
    if h < minimum or w < minimum:
        raise click.BadParameter(f"{text!r}: images must be at least {minimum}x{minimum}")
    return h, w


def parse_value(raw: str) -> Any:
    """A ``-o`` value: JSON where it parses (numbers, booleans, lists, null), else the string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_sets(values: tuple[str, ...] | list[str]) -> dict[str, dict[str, Any]]:
    """``("cnn.epochs=5", "toy.n_train=30")`` -> ``{"cnn": {"epochs": 5}, "toy": {"n_train": 30}}``."""
    params: dict[str, dict[str, Any]] = {}
    for item in values:
        key, eq, raw = item.partition("=")
        comp, dot, opt = key.partition(".")
        if not eq or not dot or not comp or not opt:
            raise click.BadParameter(f"{item!r}: expected COMPONENT.PARAM=VALUE, e.g. cnn.epochs=5",
                                     param_hint="-o/--set")
        params.setdefault(comp, {})[opt] = parse_value(raw)
    return params


def split_names(values: tuple[str, ...] | list[str] | str | None, kind: str) -> list[str]:
    """Repeated and comma-separated component names; ``all`` = every registered one of ``kind``."""
    if values is None:
        return []
    values = (values,) if isinstance(values, str) else values
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if "all" in names:
        return get_plugin_manager().registry(kind).names()
    return list(dict.fromkeys(names))


class SizeType(click.ParamType):
    """``HxW`` -> ``(H, W)``, each side at least ``minimum``."""

    name = "HxW"

    def __init__(self, minimum: int = 8) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_size(value, self.minimum)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


class DeviceType(click.ParamType):
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (availability is checked when the work starts)."""

    name = "DEVICE"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        text = str(value).strip().lower()
        if not _DEVICE.match(text):
            self.fail(f"{value!r}: expected auto, cpu, mps, cuda or cuda:N", param, ctx)
        return text


def _collect_sets(ctx: Any, param: Any, value: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    try:
        return parse_sets(value)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from None


def size_option(default: str = "36x60", minimum: int = 8, flag: str = "--size",
                help: str = "Image size HxW the data is loaded at.") -> Callable[[Any], Any]:
    """``--size HxW`` giving ``(H, W)``."""
    return click.option(flag, type=SizeType(minimum), default=default, show_default=True, help=help)


def device_option(help: str = "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.") -> Callable[[Any], Any]:
    """``--device`` (syntax checked here; :func:`gazebench.device.resolve_device` checks availability)."""
    return click.option("--device", type=DeviceType(), default="auto", show_default=True, help=help)


def set_option(help: str = "A constructor parameter of a component, e.g. -o cnn.epochs=5 (values parse as JSON; "
                           "repeat for more).") -> Callable[[Any], Any]:
    """``-o/--set COMPONENT.PARAM=VALUE`` (repeatable), giving ``{component: {param: value}}``."""
    return click.option("--set", "-o", "sets", multiple=True, metavar="COMPONENT.PARAM=VALUE",
                         callback=_collect_sets, help=help)


def seed_option(help: str = "One seed for data, fitting and noise.") -> Callable[[Any], Any]:
    """``--seed N`` (a non-negative integer below 2**63)."""
    return click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help=help)


def dataset_option(flag: str, help: str, default: str | None = None, root: bool = True) -> Callable[[Any], Any]:
    """``FLAG NAME`` and, with ``root``, ``FLAG-root DIR`` (the dataset's folder on disk)."""
    def deco(f: Any) -> Any:
        if root:
            f = click.option(f"{flag}-root", default=None, metavar="DIR",
                             help=f"Folder of the {flag.lstrip('-')} dataset on disk "
                                  "(default $GAZEBENCH_DATA/<name>).")(f)
        return click.option(flag, default=default, show_default=default is not None, metavar="NAME",
                            help=help)(f)
    return deco


def default_names(values: tuple[str, ...] | list[str] | None, kind: str) -> list[str]:
    """:func:`split_names`, or the component of ``kind`` that declares itself the default."""
    from gazebench.defaults import default_component

    names = split_names(values, kind)
    if names:
        return names
    name = default_component(get_plugin_manager(), kind)
    if name is None:
        raise click.UsageError(f"no default {kind} is installed; name one (see `gazebench plugins --kind {kind}`)")
    return [name]


__all__ = ["DeviceType", "SizeType", "dataset_option", "default_names", "device_option",
           "parse_size", "parse_sets", "parse_value", "seed_option", "set_option", "size_option", "split_names"]
