"""A content-addressed cache of fitted components and purified sets.

A key hashes everything a result depends on: the component's class and parameters, the bytes of
the data it saw, the seed and the gazebench version. Entries are written atomically
(:mod:`gazebench.io`), so an interrupted run leaves either a whole entry or none, and the next run
resumes from what finished. Location: ``$GAZEBENCH_CACHE``, else ``~/.cache/gazebench``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    env = os.environ.get("GAZEBENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gazebench"


_BATCH_FIELDS = ("images", "gaze", "head_pose", "masks", "pupil", "subject")


def fingerprint_batch(batch: Any) -> str:
    """sha256 over a batch's tensors (images, labels, masks): the data, not its name."""
    return fingerprint(list(_BATCH_FIELDS), *(getattr(batch, name, None) for name in _BATCH_FIELDS))


def fingerprint(config: Any, *tensors: Any) -> str:
    """sha256 of a JSON-able configuration and every byte of ``tensors`` (dtype and shape included):
    the one data fingerprint behind cache keys and purifier checkpoints."""
    import torch

    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=repr).encode())
    for t in tensors:
        if t is None:
            h.update(b"-")
            continue
        t = t.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.uint8 else t.numpy().tobytes())
    return h.hexdigest()


def code_digest(obj: Any) -> str | None:
    """sha256 of the code behind ``obj``: the modules of its class and bases, and for a module
    inside a package every module beside it (a network defined next door counts too), so that
    editing a plugin invalidates what it cached. None where there is no file."""
    import sys

    files: list[Path] = []
    for cls in type(obj).__mro__:
        path = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if not path:
            continue
        path = Path(path)
        siblings = sorted(path.parent.glob("*.py")) if (path.parent / "__init__.py").is_file() else [path]
        files += [f for f in siblings if f not in files]
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(str(f).encode())
    return h.hexdigest()[:16]


class Cache:
    """Paths for cache entries; ``enabled=False`` makes every lookup a miss and writes nothing."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.enabled = enabled

    @staticmethod
    def key(*parts: Any) -> str:
        from gazebench import __version__

        blob = json.dumps([__version__, *parts], sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def path(self, kind: str, name: str, key: str, ext: str = ".ckpt") -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.root / kind / f"{safe}-{key}{ext}"

    def hit(self, path: Path) -> bool:
        return self.enabled and path.is_file()
