"""Registered components: the errors of the plugin system, plugin and component records, registries.

Split from :mod:`gazebench.plugins` (which re-exports every name here) so that the manager
stays readable; nothing here imports torch.
"""

from __future__ import annotations

import importlib
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator


class PluginError(Exception):
    """Base class of every plugin-related error; the message is one readable line."""


class PluginLoadError(PluginError):
    """A plugin could not be imported or failed while registering (strict mode)."""


class DuplicateComponentError(PluginError):
    """Two plugins registered the same name for the same kind of component, and it was used."""


class ComponentParameterError(PluginError, ValueError):
    """A component was given a parameter it does not take, or a value of the wrong type."""


class UnknownComponentError(PluginError, KeyError):
    """No component of that kind has that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ComponentInterfaceError(PluginError):
    """A created component lacks a method of its kind's interface."""


@dataclass
class PluginInfo:
    """One plugin: an entry point (or an object registered in process)."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    #: the entry point's module ("module" or "module:attr"), when loaded from one
    value: str | None = None

    @property
    def broken(self) -> bool:
        return self.error is not None

    @property
    def origin(self) -> str:
        if self.distribution is None:
            return "not installed: registered in process"  # callers add the parentheses
        return f"{self.distribution} {self.version}"


@dataclass
class ComponentSpec:
    """A registered component: what ``gazebench plugins`` lists and ``create`` builds."""

    kind: str
    name: str
    target: Any
    plugin: PluginInfo
    summary: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """Import the target (if lazy) and return the class or factory."""
        target = self.target
        if not isinstance(target, str):
            return target
        module_name, _, attr = target.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except Exception as exc:  # any import failure is the plugin's, reported as such
            raise PluginLoadError(
                f"{self.kind} {self.name!r} from plugin {self.plugin.name!r} "
                f"({self.plugin.origin}) failed to import {target!r}: {_describe(exc)}"
            ) from exc
        self.target = obj
        return obj

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin.name,
            "distribution": self.plugin.distribution,
            "version": self.plugin.version,
            "summary": self.summary,
            "target": self.target if isinstance(self.target, str) else _qualname(self.target),
            "broken": False,
            "meta": self.meta,
        }


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _first_doc_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def where(exc: BaseException) -> str:
    """``" (at FILE:LINE)"`` of the innermost frame of ``exc`` that is real code (not importlib's
    frozen frames), or of the file a ``SyntaxError`` is in; ``""`` when there is none."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    # the import machinery and this file are never where a plugin went wrong
    skip = (os.path.dirname(importlib.__file__) + os.sep, __file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<") and not f.filename.startswith(skip)]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _describe(exc: BaseException) -> str:
    """``"Type: message (at FILE:LINE)"``, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}{where(exc)}"


class Registry:
    """Components of one kind, by name.

    A name registered by two plugins is kept as a conflict rather than an error: it is listed
    (:meth:`conflicts`) and refused only when used (:meth:`get`), so one clash never stops the
    commands that do not need it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._specs: dict[str, ComponentSpec] = {}
        self._conflicts: dict[str, list[ComponentSpec]] = {}

    def add(self, spec: ComponentSpec) -> None:
        if spec.name in self._conflicts:
            self._conflicts[spec.name].append(spec)
            return
        old = self._specs.pop(spec.name, None)
        if old is not None:
            self._conflicts[spec.name] = [old, spec]
            return
        self._specs[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        """Whether the name is registered at all (a conflicting name is, but :meth:`get` refuses it)."""
        return name in self._specs or name in self._conflicts

    def __iter__(self) -> Iterator[ComponentSpec]:
        """The usable components (conflicting names left out), by name."""
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        """The usable names (what ``all`` expands to): conflicting names are left out."""
        return sorted(self._specs)

    def conflicts(self) -> dict[str, list[ComponentSpec]]:
        """Names registered by more than one plugin, each with every registration."""
        return {name: list(specs) for name, specs in sorted(self._conflicts.items())}

    def conflict_message(self, name: str, loaded: Iterable[str] = ()) -> str:
        """One line naming every plugin that registered ``name`` and the way out."""
        specs = self._conflicts[name]
        who = " and ".join(f"plugin {s.plugin.name!r} ({s.plugin.origin})" for s in specs)
        # the core ships the built-ins: uninstalling it is never the way out
        dists = sorted({s.plugin.distribution for s in specs if s.plugin.distribution} - {"gazebench"})
        keep = sorted(set(loaded) - {s.plugin.name for s in specs[1:]})  # keep the first
        out = f"{self.kind} {name!r} is registered by {who}: use it after uninstalling one of them"
        out += f" (pip uninstall {' or '.join(dists)})" if dists else ""
        if keep:
            out += f", or load only one with GAZEBENCH_LOAD_PLUGINS={','.join(keep)}"
        return out

    def get(self, name: str) -> ComponentSpec:
        if name in self._conflicts:
            raise DuplicateComponentError(self.conflict_message(name))
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownComponentError(f"unknown {self.kind} {name!r}") from None
