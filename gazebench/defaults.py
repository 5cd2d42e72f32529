"""Defaults declared by components, never named by the core.

A component class may declare ``default_rank`` (a positive integer): where a command needs a
component of that kind and none was given, the registered one with the highest rank is used
(ties: alphabetical). A dataset that is the default *test* set names its training set through
``paired_with`` (the clean renders of the same eyes).
"""

from __future__ import annotations

from gazebench.plugins import PluginError, PluginManager


def default_component(pm: PluginManager, kind: str) -> str | None:
    """The registered ``kind`` whose class declares the highest positive ``default_rank``, or None."""
    ranked = []
    for spec in pm.registry(kind):
        try:
            rank = getattr(spec.load(), "default_rank", 0) or 0
        except PluginError:  # a broken component is listed as such elsewhere; it is nobody's default
            continue
        if rank > 0:
            ranked.append((rank, spec.name))
    return min(ranked, key=lambda rn: (-rn[0], rn[1]))[1] if ranked else None


def default_data(pm: PluginManager) -> tuple[str, str]:
    """``(train, test)`` when none is given: the highest-ranked test set and the set it is paired with."""
    test = default_component(pm, "dataset")
    if test is None:
        raise PluginError("no default dataset is installed; pass --train and --test")
    train = getattr(pm.spec("dataset", test).load(), "paired_with", None)
    if not train:
        raise PluginError(f"the default test set {test!r} names no training set; pass --train")
    return train, test


__all__ = ["default_component", "default_data"]
