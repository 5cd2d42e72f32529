"""Temporary files a killed run left in the cache are removed by the next run (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from gazebench.cache import TMP_MAX_AGE_S, Cache, clean_orphaned_tmp
from gazebench.io import atomic_path

KILLED_WRITER = """
import os, signal, sys
from gazebench.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a checkpoint")
    os.kill(os.getpid(), signal.SIGKILL)  # killed mid-write, as by the kernel or kill -9
"""


def test_a_killed_write_leaves_a_tmp_that_the_next_run_removes(tmp_path):
    root = tmp_path / "cache"
    target = root / "estimators" / "svr-abc.ckpt"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)])
    assert proc.wait() == -9
    (orphan,) = (root / "estimators").glob(".*.tmp")
    assert orphan.name.startswith(f".svr-abc.ckpt.{proc.pid}.")
    assert not target.exists()
    Cache(root)  # what every `gazebench run` opens first
    assert list((root / "estimators").iterdir()) == []


def test_only_orphans_are_removed(tmp_path):
    root = tmp_path / "cache"
    (root / "purified").mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid that has exited
    gone.wait()
    entry = root / "purified" / "identity-k.pt"
    entry.write_bytes(b"a whole entry")
    dead = root / "purified" / f".identity-k.pt.{gone.pid}.abcd1234.tmp"
    live = root / "purified" / f".identity-k.pt.{os.getpid()}.efgh5678.tmp"  # a write in progress here
    old_format_fresh = root / "purified" / ".other.pt.ijkl9012.tmp"
    old_format_stale = root / "purified" / ".stale.pt.mnop3456.tmp"
    for p in (dead, live, old_format_fresh, old_format_stale):
        p.write_bytes(b"partial")
    stale = time.time() - TMP_MAX_AGE_S - 10
    os.utime(old_format_stale, (stale, stale))
    removed = clean_orphaned_tmp(root)
    assert sorted(p.name for p in removed) == sorted([dead.name, old_format_stale.name])
    assert sorted(p.name for p in (root / "purified").iterdir()) == sorted(
        [entry.name, live.name, old_format_fresh.name])
    # a disabled cache (--no-cache) touches nothing; a missing folder is no error
    dead.write_bytes(b"partial")
    Cache(root, enabled=False)
    assert dead.exists()
    Cache(root)
    assert not dead.exists()
    Cache(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_atomic_path_names_its_temporary_file_with_the_pid(tmp_path):
    with atomic_path(tmp_path / "x.json") as tmp:
        assert tmp.name.startswith(f".x.json.{os.getpid()}.") and tmp.name.endswith(".tmp")
        assert clean_orphaned_tmp(tmp_path) == []  # ours, alive
        tmp.write_text("{}")
    assert (tmp_path / "x.json").read_text() == "{}"


def test_atomic_writes_get_the_users_file_mode_not_mkstemps_0600(tmp_path, monkeypatch):
    """Records and reports are shared files: mode 0666 & ~umask, as open() would give them."""
    import stat

    from gazebench import io

    monkeypatch.setattr(io, "_UMASK", 0o022)
    io.write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644
    monkeypatch.setattr(io, "_UMASK", 0o077)
    with io.atomic_path(tmp_path / "p.bin") as t:
        t.write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "p.bin").stat().st_mode) == 0o600
