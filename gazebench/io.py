"""Atomic writes and safe checkpoint loading.

Everything gazebench writes goes through a temporary file in the same folder and an
``os.replace``, so an interrupted run never leaves a half-written file behind to be read back.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The temporary file is ``.NAME.PID.XXXXXXXX.tmp``; one a killed process left behind is removed
    by :func:`gazebench.cache.clean_orphaned_tmp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the pid in the name lets a later run tell an orphan of a killed writer from a live write
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600; a record or report is meant to be shared like any file the user writes
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: the environment variable naming the folder that holds every dataset as ``<folder>/<name>``
DATA_ENV = "GAZEBENCH_DATA"


def dataset_root(name: str, root: str | Path | None, layout: str) -> Path:
    """A dataset's folder: ``root`` when given, else ``$GAZEBENCH_DATA/<name>``; a one-line
    ``FileNotFoundError`` saying what to pass when neither exists.

    Args:
        name: the registered dataset name (its folder under ``$GAZEBENCH_DATA``).
        root: what the user passed (``--train-root``/``--test-root``/``--root``), or ``None``.
        layout: a short description of the expected contents, repeated in the error.
    """
    if root is None:
        base = os.environ.get(DATA_ENV)
        if not base:
            raise FileNotFoundError(
                f"dataset {name!r}: no root given; pass --train-root/--test-root (or --root) or set "
                f"{DATA_ENV} so that ${DATA_ENV}/{name} holds {layout}")
        root = Path(base) / name
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"dataset {name!r}: root {root} does not exist; expected {layout}")
    return root


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """``torch.save`` ``state`` atomically; keep it to tensors, numbers, strings, lists, dicts."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_state(path: str | Path) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with a one-line error naming the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message runs to many lines and suggests weights_only=False: never do that here
        raise ValueError(f"checkpoint {path} could not be read (UnpicklingError: it holds objects a "
                         "weights-only load refuses, e.g. a pickle that would run code); "
                         "delete it to have it rebuilt") from exc
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(f"checkpoint {path} could not be read ({type(exc).__name__}: {first}); "
                         "delete it to have it rebuilt") from exc
