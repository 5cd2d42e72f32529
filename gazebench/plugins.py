"""The plugin manager: entry-point loading, typed lazy registries, and clear errors.

Nothing here imports torch or any plugin by name: plugins are found through the entry-point
group ``gazebench`` (the built-ins in ``plugins/`` too), and each registered component stays a
lazy ``"module:Attribute"`` string until it is created.

Environment variables:

- ``GAZEBENCH_LOAD_PLUGINS=a,b``: load only the entry points named ``a`` and ``b``; set but
  empty, load none.
- ``GAZEBENCH_STRICT_PLUGINS=1``: a plugin that fails to load is an error instead of a warning
  (``gazebench --help`` and ``--version`` still work, with the warning).

Hooks are called with only the arguments an implementation names (``impl.argnames``), as pluggy
itself does, so adding an argument to a hook never breaks an existing plugin. Each implementation
is called on its own so that one that raises marks only its plugin broken.

Two plugins registering the same component name do not stop anything else: both are listed as
conflicting, and only using that name is an error (naming both and the way out).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Any

import pluggy

from gazebench import hookspecs

KINDS: tuple[str, ...] = ("dataset", "segmenter", "purifier", "estimator")
ENTRY_POINT_GROUP = "gazebench"
hookimpl = pluggy.HookimplMarker("gazebench")

from gazebench.registry import (ComponentInterfaceError, ComponentParameterError, ComponentSpec,  # noqa: F401
                                DuplicateComponentError, PluginError, PluginInfo, PluginLoadError, Registry,
                                UnknownComponentError, _describe, _first_doc_line, _qualname, where)


class PluginManager:
    """Loads plugins from entry points and builds one registry per component kind."""

    def __init__(self, *, load_entry_points: bool = True, strict: bool | None = None) -> None:
        """
        Args:
            load_entry_points: load the plugins of the entry-point group ``gazebench``.
            strict: a plugin that fails to load is an error; ``None``: ``GAZEBENCH_STRICT_PLUGINS``.
        """
        self.pm = pluggy.PluginManager("gazebench")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        #: plugins found but not loaded because their entry-point name was taken (listed, not usable)
        self.shadowed: list[PluginInfo] = []
        self._strict = self.strict() if strict is None else strict
        self._registries: dict[str, Registry] | None = None
        if load_entry_points:
            self._load_entry_points()

    # -- loading ----------------------------------------------------------------------------
    @staticmethod
    def _allowed() -> set[str] | None:
        raw = os.environ.get("GAZEBENCH_LOAD_PLUGINS")
        if raw is None:
            return None
        return {p.strip() for p in raw.split(",") if p.strip()}

    @staticmethod
    def strict() -> bool:
        """Whether ``GAZEBENCH_STRICT_PLUGINS`` asks for broken plugins to be errors."""
        return os.environ.get("GAZEBENCH_STRICT_PLUGINS", "").strip() not in ("", "0", "false")

    def _broken(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        info.error = message
        if info not in self.shadowed:
            self.plugins[info.name] = info
        if self._strict:
            raise PluginLoadError(
                f"plugin {info.name!r} ({info.origin}) is broken: {message} (GAZEBENCH_STRICT_PLUGINS "
                "makes this an error; fix or uninstall the plugin, or unset the variable to skip it)") from exc
        print(f"gazebench: plugin {info.name!r} ({info.origin}) is broken and was skipped: {message}",
              file=sys.stderr)

    def _load_entry_points(self) -> None:
        allowed = self._allowed()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                distribution=dist.metadata["Name"] if dist is not None else "unknown",
                version=dist.version if dist is not None else None,
                value=ep.value,
            )
            first = self.plugins.get(ep.name)
            if first is not None:
                if (first.distribution, first.value) == (info.distribution, info.value):
                    continue  # the same distribution seen twice on sys.path
                # pluggy keys plugins by name: the second cannot load; say so instead of losing it
                self.shadowed.append(info)
                self._broken(info, f"its entry-point name {ep.name!r} is also used by {first.origin}, "
                                   f"which was loaded instead; uninstall one of the two "
                                   f"(pip uninstall {info.distribution} or {first.distribution})")
                continue
            try:
                obj = ep.load()
            except Exception as exc:
                self._broken(info, _describe(exc), exc)
                continue
            self._register_object(obj, info)

    def _register_object(self, obj: Any, info: PluginInfo) -> None:
        try:
            self.pm.register(obj, name=info.name)
        except Exception as exc:  # e.g. a hook with an unknown name or bad signature
            self._broken(info, _describe(exc), exc)
            return
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(obj) or [])
        self.plugins[info.name] = info
        self._registries = None

    def register(self, obj: Any, name: str, *, distribution: str | None = None,
                 version: str | None = None) -> PluginInfo:
        """Register a plugin object in process (tests, notebooks); rebuilds the registries.

        A name already taken (say, by an installed entry point) is a :class:`PluginError`.
        """
        taken = self.plugins.get(name)
        if taken is not None:
            raise PluginError(f"a plugin named {name!r} is already loaded ({taken.origin}); register "
                              "yours under another name, or narrow loading with GAZEBENCH_LOAD_PLUGINS")
        info = PluginInfo(name=name, distribution=distribution, version=version)
        self._register_object(obj, info)
        return info

    def unregister(self, name: str) -> None:
        """Remove an in-process plugin registered with :meth:`register`."""
        self.pm.unregister(name=name)
        self.plugins.pop(name, None)
        self._registries = None

    # -- calling hooks ----------------------------------------------------------------------
    @staticmethod
    def _call(impl: Any, **kwargs: Any) -> Any:
        """Call one hook implementation with only the arguments it names, as pluggy does."""
        return impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})

    # -- registries -------------------------------------------------------------------------
    @property
    def registries(self) -> dict[str, Registry]:
        if self._registries is None:
            self._registries = self._build_registries()
        return self._registries

    def _build_registries(self) -> dict[str, Registry]:
        regs = {kind: Registry(kind) for kind in KINDS}
        for kind in KINDS:
            hook = getattr(self.pm.hook, f"gazebench_register_{kind}s")
            for impl in hook.get_hookimpls():
                info = self.plugins[impl.plugin_name]
                if info.broken:
                    continue

                def register(name: str, target: Any, *, summary: str | None = None,
                             _kind: str = kind, _info: PluginInfo = info, **meta: Any) -> None:
                    if not isinstance(name, str) or not name:
                        raise PluginError(f"plugin {_info.name!r} registered a {_kind} with an empty name")
                    text = summary if summary is not None else _first_doc_line(target)
                    regs[_kind].add(ComponentSpec(_kind, name, target, _info, text, dict(meta)))

                try:
                    self._call(impl, register=register)
                except Exception as exc:
                    self._broken(info, f"gazebench_register_{kind}s raised {_describe(exc)}", exc)
        return regs

    def registry(self, kind: str) -> Registry:
        if kind not in KINDS:
            raise PluginError(f"unknown component kind {kind!r}; expected one of {', '.join(KINDS)}")
        return self.registries[kind]

    def spec(self, kind: str, name: str) -> ComponentSpec:
        """The registered component, or an error listing the names and any broken plugins."""
        reg = self.registry(kind)
        if name in reg.conflicts():
            raise DuplicateComponentError(reg.conflict_message(name, self.plugins))
        try:
            return reg.get(name)
        except UnknownComponentError:
            msg = f"unknown {kind} {name!r}; available: {', '.join(reg.names()) or '(none)'}"
            broken = [p for p in [*self.plugins.values(), *self.shadowed] if p.broken]
            if broken:
                msg += "; broken plugins that may have provided it: " + "; ".join(
                    f"{p.name!r} ({p.origin}): {p.error}" for p in broken)
            allowed = self._allowed()
            if allowed is not None:
                msg += f"; note GAZEBENCH_LOAD_PLUGINS={','.join(sorted(allowed))!r} narrows loading"
            raise UnknownComponentError(msg) from None

    def check_params(self, kind: str, name: str, params: dict[str, Any]) -> None:
        """Raise a one-line :class:`ComponentParameterError` unless ``params`` suit the constructor
        of ``name`` (names it takes, values of its annotated types): before any work is done."""
        from gazebench.params import check_params

        check_params(self.spec(kind, name).load(), params, kind=kind, name=name)

    def create(self, kind: str, name: str, **params: Any) -> Any:
        """Build the component ``name`` of ``kind`` with ``params`` and check its interface."""
        from gazebench import api  # torch-free

        spec = self.spec(kind, name)
        factory = spec.load()
        self.check_params(kind, name, params)
        try:
            obj = factory(**params)
        except TypeError as exc:
            raise PluginError(f"cannot create {kind} {name!r} with {params!r}: {exc}") from exc
        missing = api.missing_methods(kind, obj)
        if missing:
            raise ComponentInterfaceError(
                f"{kind} {name!r} from plugin {spec.plugin.name!r} ({spec.plugin.origin}) "
                f"lacks {', '.join(missing)} of the {kind} interface")
        try:
            obj.name = name
        except AttributeError:
            pass
        return obj

    def listing(self) -> list[dict[str, Any]]:
        """Every component, every conflicting registration and every broken plugin, as
        ``gazebench plugins --json`` prints; never raises for a plugin's fault."""
        rows: list[dict[str, Any]] = []
        for kind in KINDS:
            reg = self.registry(kind)
            rows += [{**spec.as_dict(), "conflict": None} for spec in reg]
            for name, specs in reg.conflicts().items():
                message = reg.conflict_message(name, self.plugins)
                rows += [{**spec.as_dict(), "conflict": message} for spec in specs]
        rows.sort(key=lambda r: (KINDS.index(r["kind"]), r["name"], r["plugin"]))
        for p in [*self.plugins.values(), *self.shadowed]:
            if p.broken:
                rows.append({"kind": "plugin", "name": p.name, "plugin": p.name,
                             "distribution": p.distribution, "version": p.version,
                             "summary": p.error, "target": None, "broken": True, "meta": {},
                             "conflict": None})
        return rows

    def register_commands(self, cli: Any) -> None:
        """Let every plugin add CLI commands; a plugin whose hook raises is marked broken, not fatal."""
        for impl in self.pm.hook.gazebench_register_commands.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            try:
                self._call(impl, cli=cli)
            except Exception as exc:
                if info is None:
                    raise
                self._broken(info, f"gazebench_register_commands raised {_describe(exc)}", exc)

    def record(self, record: dict[str, Any]) -> None:
        """Hand a finished record to every ``gazebench_record`` hook; failures only warn."""
        for impl in self.pm.hook.gazebench_record.get_hookimpls():
            try:
                self._call(impl, record=record)
            except Exception as exc:
                print(f"gazebench: plugin {impl.plugin_name!r} failed in gazebench_record: "
                      f"{_describe(exc)}", file=sys.stderr)


_manager: PluginManager | None = None


def get_plugin_manager(*, strict: bool | None = None) -> PluginManager:
    """The process-wide plugin manager, built on first use (``strict``: see :class:`PluginManager`;
    it only matters for that first build)."""
    global _manager
    if _manager is None:
        _manager = PluginManager(strict=strict)
    return _manager


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests; after changing GAZEBENCH_* variables)."""
    global _manager
    _manager = None


def create(kind: str, name: str, **params: Any) -> Any:
    """Shortcut for ``get_plugin_manager().create(kind, name, **params)``."""
    return get_plugin_manager().create(kind, name, **params)
