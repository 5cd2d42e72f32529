"""Shared fixtures: an isolated plugin manager and inline plugins, as llm/datasette test theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Before torch loads: OpenMP threads that spin-wait make torch 100-400x slower whenever another
# process shares the 2 cores (measured, docs/method.md); sleeping threads cost little when alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

from gazebench import plugins as plugins_mod

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the run cache of the whole session in a temporary folder, never ~/.cache."""
    os.environ["GAZEBENCH_CACHE"] = str(tmp_path_factory.mktemp("gazebench-cache"))
    yield


# 2 cores in CI: more threads than cores only adds contention
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def pm(monkeypatch):
    """A fresh process-wide plugin manager (entry points reloaded), forgotten afterwards."""
    monkeypatch.delenv("GAZEBENCH_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("GAZEBENCH_STRICT_PLUGINS", raising=False)
    plugins_mod.reset_plugin_manager()
    manager = plugins_mod.get_plugin_manager()
    yield manager
    plugins_mod.reset_plugin_manager()


def builtin_plugin_names() -> list[str]:
    """The entry-point names of gazebench's own built-in plugins (not what else is installed)."""
    from importlib import metadata

    return sorted(ep.name for ep in metadata.entry_points(group=plugins_mod.ENTRY_POINT_GROUP)
                  if getattr(ep, "dist", None) is not None and ep.dist.metadata["Name"] == "gazebench")


def builtin_plugin_manager(monkeypatch) -> plugins_mod.PluginManager:
    """A fresh process-wide plugin manager that loads only the built-in plugins, so a test that
    registers its own in-process plugins is immune to whatever third-party plugins are installed
    (an entry point of the same name, a component name registered twice, a broken plugin)."""
    monkeypatch.setenv("GAZEBENCH_LOAD_PLUGINS", ",".join(builtin_plugin_names()))
    monkeypatch.delenv("GAZEBENCH_STRICT_PLUGINS", raising=False)
    plugins_mod.reset_plugin_manager()
    return plugins_mod.get_plugin_manager()


@pytest.fixture
def builtin_pm(monkeypatch):
    """:func:`builtin_plugin_manager`, forgotten afterwards."""
    yield builtin_plugin_manager(monkeypatch)
    plugins_mod.reset_plugin_manager()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `gazebench` console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", "from gazebench.cli import main; main()", *args],
                          capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


@pytest.fixture
def mpiigaze_patches():
    """The 600 real unlabelled MPIIGaze patches from ../shared/data (never committed)."""
    path = SHARED_DATA / "mpiigaze-unlabelled" / "eyes.npz"
    if not path.is_file():
        pytest.skip(f"real MPIIGaze patches not present at {path} (they are not part of the repository)")
    import numpy as np

    return np.load(path)["images"]
