"""Checks made before any work: where results will be written, and whether the data fits in memory.

Each failure is a :class:`CheckError`, one line naming the option and the fix, raised before the
first image is loaded, so a bad ``--out`` never costs a finished run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class CheckError(ValueError):
    """A bad output location or an impossible size, in one line."""


def _first_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def check_output_file(path: str | Path | None, option: str, *, dir_ok: bool = False) -> Path | None:
    """``path`` as a file that can be written (its folders may not exist yet).

    With ``dir_ok``, an existing directory is returned as is (the caller writes inside it).
    """
    if path is None:
        return None
    path = Path(path)
    if path.is_dir() and not dir_ok:
        raise CheckError(f"{option} {path}: is a directory; give a file name, e.g. {path / 'run.json'}")
    if path.exists() and not path.is_dir() and not os.access(path, os.W_OK):
        raise CheckError(f"{option} {path}: the file exists and is read-only; choose another path")
    base = _first_existing(path if path.is_dir() else path.parent)
    if not base.is_dir():
        raise CheckError(f"{option} {path}: {base} is a file, so nothing can be written under it; choose another path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise CheckError(f"{option} {path}: {base} is not writable; choose another path")
    return path


def check_output_dir(path: str | Path | None, option: str) -> Path | None:
    """``path`` as a directory that exists or can be created, and can be written."""
    if path is None:
        return None
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckError(f"{option} {path}: is a file; give a folder")
    base = _first_existing(path)
    if not base.is_dir():
        raise CheckError(f"{option} {path}: {base} is a file, so no folder can be made under it; choose another path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise CheckError(f"{option} {path}: {base} is not writable; choose another folder")
    return path


def available_memory() -> int | None:
    """Bytes of memory available to new work (``MemAvailable`` on Linux), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


#: bytes of working memory per image byte: the uint8 copy, float32 conversions (x4) in purifiers
#: and estimators, and one intermediate of each; measured runs stay well under this
BYTES_PER_PIXEL_BYTE = 10


class MemoryBudget:
    """Adds up the images a run holds and refuses, before reading, what cannot fit."""

    def __init__(self, fraction: float = 0.8, available: int | None = None) -> None:
        avail = available_memory() if available is None else available
        self.limit = None if avail is None else int(avail * fraction)
        self.used = 0

    def reserve(self, n: int, size: tuple[int, int], what: str, channels: int = 3) -> None:
        """Count ``n`` images of ``size`` (H, W); raise :class:`CheckError` past the budget."""
        need = int(n) * channels * int(size[0]) * int(size[1]) * BYTES_PER_PIXEL_BYTE
        self.used += need
        if self.limit is not None and self.used > self.limit:
            raise CheckError(
                f"{what}: {n} images at {size[0]}x{size[1]} need about {_gb(need)} GB of working memory "
                f"({_gb(self.used)} GB for the run so far) and about {_gb(self.limit)} GB is free; "
                "use a smaller --size or fewer samples (--n-train/--n-test/--n-unlabelled)")


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f}"


def fallback_path(name: str) -> Path:
    """Where a finished record goes when its own path cannot be written."""
    return Path(tempfile.gettempdir()) / name


__all__ = ["CheckError", "MemoryBudget", "available_memory", "check_output_dir", "check_output_file",
           "fallback_path"]
