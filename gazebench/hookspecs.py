"""The gazebench plugin contract: every hook a plugin may implement.

A plugin is any importable object (usually a module) named by an entry point in the group
``gazebench``::

    [project.entry-points.gazebench]
    myplugin = "gazebench_myplugin"

and implementing one or more of the hooks below with :data:`gazebench.hookimpl`. Hooks are
always called with keyword arguments, and pluggy passes a plugin only the arguments it names, so
adding an argument to a hook later never breaks an existing plugin.

Registering
-----------
The four ``gazebench_register_*`` hooks receive a ``register`` callable::

    register(name, target, *, summary=None, **meta)

- ``name`` (str): the component's public name, as typed on the command line
  (``--estimator NAME``). Names should be unique per kind across all plugins: when two plugins
  register the same name, ``gazebench plugins`` lists both marked as conflicting, every other
  component keeps working, and only using that name is an error naming both plugins, their
  distributions and the way out (uninstall one, or ``GAZEBENCH_LOAD_PLUGINS``).
- ``target``: the class (or zero-argument-compatible factory) that builds the component, or a
  lazy ``"package.module:Attribute"`` string. Prefer the string: it is imported only when the
  component is used, so ``gazebench plugins`` and ``--help`` never import torch.
- ``summary`` (str): one line shown by ``gazebench plugins``. Defaults to the first line of the
  target's docstring when the target is an object.
- ``**meta``: free-form metadata shown with ``gazebench plugins --json`` (e.g. ``needs_fit=True``).

Registering does not construct anything; the component is built on demand by
``gazebench.plugins.create(kind, name, **params)``, which first checks ``params`` against the
constructor's signature and annotations (:mod:`gazebench.params`: a wrong name or type is a
one-line error naming ``-o NAME.PARAM``), then that the object implements the interface of its
kind (:mod:`gazebench.api`). Annotate constructor parameters (``int``, ``float``, ``bool``,
``str``, ``X | None``, ``Literal[...]``, ``list[int]``, ``tuple[int, int]``) to have them checked.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import pluggy

hookspec = pluggy.HookspecMarker("gazebench")


class Register(Protocol):
    """The callable handed to the ``gazebench_register_*`` hooks."""

    def __call__(self, name: str, target: Any, *, summary: str | None = None, **meta: Any) -> None: ...


# --------------------------------------------------------------------------------------------
# Components: called once per process, when the plugin manager first builds its registries
# (the first ``gazebench`` command that needs a component, or ``gazebench plugins``).
# --------------------------------------------------------------------------------------------


@hookspec
def gazebench_register_datasets(register: Register) -> None:
    """Register dataset components (subclasses of :class:`gazebench.api.Dataset`).

    Called once when the dataset registry is built.

    :param register: call ``register(name, target, summary=..., **meta)`` once per dataset.
        ``name`` is what users pass to ``--train``/``--test``.
    :return: ignored.
    """


@hookspec
def gazebench_register_segmenters(register: Register) -> None:
    """Register segmenter components (subclasses of :class:`gazebench.api.Segmenter`).

    Called once when the segmenter registry is built. A segmenter supplies region label maps
    (0 skin/background, 1 sclera, 2 iris, 3 pupil) for images whose dataset has none.

    :param register: call ``register(name, target, summary=..., **meta)`` once per segmenter.
        ``name`` is what users pass to ``--masks``.
    :return: ignored.
    """


@hookspec
def gazebench_register_purifiers(register: Register) -> None:
    """Register purifier components (subclasses of :class:`gazebench.api.Purifier`).

    Called once when the purifier registry is built.

    :param register: call ``register(name, target, summary=..., **meta)`` once per purifier.
        ``name`` is what users pass to ``--purifier``.
    :return: ignored.
    """


@hookspec
def gazebench_register_estimators(register: Register) -> None:
    """Register gaze estimator components (subclasses of :class:`gazebench.api.Estimator`).

    Called once when the estimator registry is built.

    :param register: call ``register(name, target, summary=..., **meta)`` once per estimator.
        ``name`` is what users pass to ``--estimator``.
    :return: ignored.
    """


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@hookspec
def gazebench_register_commands(cli: Any) -> None:
    """Add commands to the ``gazebench`` command line.

    Called once when the ``gazebench`` command starts, before arguments are parsed.

    :param cli: the root :class:`click.Group`; add commands with ``@cli.command()`` or
        ``cli.add_command(cmd)``. Keep heavy imports inside the command's function.
    :return: ignored.
    """


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@hookspec
def gazebench_record(record: dict[str, Any]) -> None:
    """Receive every finished result record (``gazebench run``, ``gazebench speed``, ...).

    Called after the record has been written to disk, once per record. Use it to send results
    elsewhere (an experiment tracker, a database). The record is documented in
    ``docs/results.md``; treat it as read-only.

    :param record: the record as a JSON-compatible dict (``record["schema"]`` names its version).
    :return: ignored. An exception raised here is reported as a warning naming the plugin and
        does not fail the run: the record is already safe on disk.
    """


HOOKS: tuple[Callable[..., Any], ...] = (
    gazebench_register_datasets,
    gazebench_register_segmenters,
    gazebench_register_purifiers,
    gazebench_register_estimators,
    gazebench_register_commands,
    gazebench_record,
)
