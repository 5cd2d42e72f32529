"""The plugin manager: entry points, lazy registries, narrowing, broken and duplicate plugins."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli
from gazebench.api import Purifier
from gazebench.plugins import (ComponentInterfaceError, DuplicateComponentError, PluginError,
                               PluginLoadError, PluginManager, UnknownComponentError, hookimpl)


def write_dist(site: Path, dist: str, version: str, module: str, source: str, ep_name: str) -> None:
    """A minimal installed distribution: a module and a .dist-info with its entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[gazebench]\n{ep_name} = {module}\n")


class Pur:
    """A purifier for tests."""

    def __init__(self):
        pass


def test_builtins_listed_with_distribution(pm):
    rows = {(r["kind"], r["name"]): r for r in pm.listing()}
    assert rows[("purifier", "identity")]["distribution"] == "gazebench"
    assert rows[("estimator", "mean")]["plugin"] == "basic"
    assert rows[("estimator", "mean")]["summary"].startswith("Predicts the training set's mean")
    assert not any(r["broken"] for r in rows.values())


def test_listing_does_not_import_torch():
    code = ("import sys; from gazebench.plugins import get_plugin_manager; "
            "rows = get_plugin_manager().listing(); assert rows; "
            "bad = [m for m in ('torch', 'timm', 'kornia', 'sklearn') if m in sys.modules]; "
            "assert not bad, bad")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_cli_listing_with_every_plugin_command_does_not_import_torch():
    # the console script also runs every plugin's gazebench_register_commands hook
    code = ("import sys; from gazebench.cli import main; sys.argv = ['gazebench', 'plugins', '--json']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "bad = [m for m in ('torch', 'timm', 'kornia', 'sklearn', 'matplotlib') if m in sys.modules]\n"
            "assert not bad, bad")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


def test_inline_plugin_registers_and_creates(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_purifiers(self, register):
            register("tiny-identity", "gazebench_plugins.identity:IdentityPurifier", summary="s", fast=True)

    pm.register(Plugin(), "inline")
    spec = pm.spec("purifier", "tiny-identity")
    assert spec.plugin.name == "inline" and spec.meta == {"fast": True}
    assert isinstance(pm.spec("purifier", "tiny-identity").target, str)  # still lazy
    obj = pm.create("purifier", "tiny-identity")
    assert isinstance(obj, Purifier) and obj.name == "tiny-identity"


def test_duplicate_name_names_both_plugins(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_estimators(self, register):
            register("mean", Pur)

    pm.register(Plugin(), "copycat", distribution="gazebench-copycat", version="9.9")
    with pytest.raises(DuplicateComponentError) as exc:
        pm.registry("estimator")
    msg = str(exc.value)
    assert "'basic' (gazebench 0.1.0)" in msg and "'copycat' (gazebench-copycat 9.9)" in msg


def test_unknown_name_lists_available(pm):
    with pytest.raises(UnknownComponentError, match="unknown estimator 'nope'; available: .*mean"):
        pm.create("estimator", "nope")


def test_missing_interface_method_is_an_error(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_purifiers(self, register):
            register("hollow", Pur)

    pm.register(Plugin(), "hollow-plugin")
    with pytest.raises(ComponentInterfaceError, match="lacks fit, purify, save, load"):
        pm.create("purifier", "hollow")


def test_lazy_target_that_fails_to_import_names_plugin(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_estimators(self, register):
            register("ghost", "no_such_module_xyz:Ghost", summary="a ghost")

    pm.register(Plugin(), "ghosts", distribution="gazebench-ghosts", version="1.0")
    assert "ghost" in pm.registry("estimator").names()  # listing never imports it
    with pytest.raises(PluginLoadError, match=r"estimator 'ghost' from plugin 'ghosts' \(gazebench-ghosts 1.0\) "
                                              r"failed to import 'no_such_module_xyz:Ghost': ModuleNotFoundError"):
        pm.create("estimator", "ghost")


def test_registration_hook_that_raises_marks_plugin_broken(pm, capsys):
    class Plugin:
        @hookimpl
        def gazebench_register_datasets(self, register):
            raise RuntimeError("boom")

    pm.register(Plugin(), "exploding")
    assert "toy" in pm.registry("dataset")
    assert pm.plugins["exploding"].broken
    assert "exploding" in capsys.readouterr().err


def test_broken_entry_point_reported_not_fatal(tmp_path):
    write_dist(tmp_path, "gazebench-broken", "0.3", "gb_broken_plugin", "raise ImportError('needs libfoo')\n", "broken")
    out = run_cli("plugins", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines() == [
        "gazebench: plugin 'broken' (gazebench-broken 0.3) is broken and was skipped: ImportError: needs libfoo"]
    rows = json.loads(out.stdout)
    broken = [r for r in rows if r["broken"]]
    assert broken == [{"kind": "plugin", "name": "broken", "plugin": "broken", "distribution": "gazebench-broken",
                       "version": "0.3", "summary": "ImportError: needs libfoo", "target": None, "broken": True,
                       "meta": {}}]
    assert any(r["name"] == "identity" for r in rows)
    # asking for something the broken plugin may have provided says why it is missing
    out = run_cli("run", "-e", "broken-estimator", "--n-train", "10", "--n-test", "5",
                  env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 1
    assert "unknown estimator 'broken-estimator'" in out.stderr
    assert "'broken' (gazebench-broken 0.3): ImportError: needs libfoo" in out.stderr


def test_strict_mode_makes_broken_plugin_fatal(tmp_path):
    write_dist(tmp_path, "gazebench-broken", "0.3", "gb_broken_plugin2", "1/0\n", "broken2")
    out = run_cli("plugins", env={"PYTHONPATH": str(tmp_path), "GAZEBENCH_STRICT_PLUGINS": "1"})
    assert out.returncode == 2
    assert "plugin 'broken2' (gazebench-broken 0.3) is broken" in out.stderr and "ZeroDivisionError" in out.stderr
    assert "Traceback" not in out.stderr


def test_load_plugins_narrows(monkeypatch):
    monkeypatch.setenv("GAZEBENCH_LOAD_PLUGINS", "basic")
    pm = PluginManager()
    assert list(pm.plugins) == ["basic"]
    monkeypatch.setenv("GAZEBENCH_LOAD_PLUGINS", "")
    pm = PluginManager()
    assert pm.plugins == {} and len(pm.registry("estimator")) == 0
    with pytest.raises(UnknownComponentError, match="GAZEBENCH_LOAD_PLUGINS"):
        pm.spec("estimator", "mean")


def test_record_hook_receives_records_and_failures_only_warn(pm, capsys):
    seen = []

    class Good:
        @hookimpl
        def gazebench_record(self, record):
            seen.append(record["schema"])

    class Bad:
        @hookimpl
        def gazebench_record(self, record):
            raise OSError("tracker down")

    pm.register(Good(), "good")
    pm.register(Bad(), "bad")
    pm.record({"schema": "gazebench.run/1"})
    assert seen == ["gazebench.run/1"]
    assert "plugin 'bad' failed in gazebench_record: OSError: tracker down" in capsys.readouterr().err


def test_unknown_kind():
    with pytest.raises(PluginError, match="unknown component kind"):
        PluginManager(load_entry_points=False).registry("frobnicator")


def test_every_hook_is_documented():
    from gazebench import hookspecs

    for hook in hookspecs.HOOKS:
        doc = hook.__doc__ or ""
        assert "Called" in doc and ":param" in doc and ":return:" in doc, hook.__name__
    names = {h.__name__ for h in hookspecs.HOOKS}
    assert names == {n for n in dir(hookspecs) if n.startswith("gazebench_")}


def test_command_hook_that_raises_marks_plugin_broken(pm, capsys):
    import click

    class Plugin:
        @hookimpl
        def gazebench_register_commands(self, cli):
            raise ImportError("half-written module")

    class Good:
        @hookimpl
        def gazebench_register_commands(self, cli):
            @cli.command("hello")
            def hello():
                click.echo("hi")

    pm.register(Plugin(), "half")
    pm.register(Good(), "good")
    group = click.Group("g")
    pm.register_commands(group)
    assert "hello" in group.commands
    assert pm.plugins["half"].broken
    assert "gazebench_register_commands raised ImportError: half-written module" in capsys.readouterr().err
