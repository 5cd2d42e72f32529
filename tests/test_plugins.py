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


BUILTINS = "basic,datasets,estimators,purifiers,segmenters,synth"


def test_duplicate_name_is_listed_as_conflict_and_only_using_it_fails(pm):
    class Plugin:
        @hookimpl
        def gazebench_register_estimators(self, register):
            register("mean", Pur, summary="a copy")

    pm.register(Plugin(), "copycat", distribution="gazebench-copycat", version="9.9")
    message = ("estimator 'mean' is registered by plugin 'basic' (gazebench 0.1.0) and plugin 'copycat' "
               "(gazebench-copycat 9.9): use it after uninstalling one of them (pip uninstall "
               f"gazebench-copycat), or load only one with GAZEBENCH_LOAD_PLUGINS={BUILTINS}")
    reg = pm.registry("estimator")  # building the registries no longer fails
    assert "mean" in reg and "mean" not in reg.names() and "knn" in reg.names()
    rows = [r for r in pm.listing() if r["name"] == "mean"]
    assert [(r["plugin"], r["conflict"]) for r in rows] == [("basic", message), ("copycat", message)]
    with pytest.raises(DuplicateComponentError) as exc:
        pm.create("estimator", "mean")
    assert str(exc.value) == message
    assert pm.create("purifier", "identity").name == "identity"  # everything else still works


def test_installed_plugins_registering_one_name_list_both_and_only_that_name_fails(tmp_path):
    for dist, module in (("gazebench-knn-a", "gb_knn_a"), ("gazebench-knn-b", "gb_knn_b")):
        write_dist(tmp_path, dist, "1.0", module, """
            from gazebench.plugins import hookimpl

            @hookimpl
            def gazebench_register_estimators(register):
                register("knn", "gazebench_plugins.basic:MeanEstimator", summary="another knn")
            """, module)
    env = {"PYTHONPATH": str(tmp_path)}
    out = run_cli("plugins", env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stdout.count("CONFLICT") == 3  # the built-in and both copies
    assert "conflict: estimator 'knn' is registered by plugin 'estimators'" in out.stdout
    message = ("estimator 'knn' is registered by plugin 'estimators' (gazebench 0.1.0) and plugin "
               "'gb_knn_a' (gazebench-knn-a 1.0) and plugin 'gb_knn_b' (gazebench-knn-b 1.0): use it after "
               "uninstalling one of them (pip uninstall gazebench-knn-a or gazebench-knn-b), or load only one "
               f"with GAZEBENCH_LOAD_PLUGINS={BUILTINS}")
    rows = json.loads(run_cli("plugins", "--json", env=env).stdout)
    assert [(r["plugin"], r["conflict"]) for r in rows if r["name"] == "knn"] == [
        ("estimators", message), ("gb_knn_a", message), ("gb_knn_b", message)]
    args = ["--train", "toy", "--test", "toy-wild", "--n-train", "20", "--n-test", "5", "--no-cache"]
    out = run_cli("run", "-e", "knn", *args, "--out", str(tmp_path / "knn.json"), env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("Error: estimator 'knn' is registered by plugin")
    assert not (tmp_path / "knn.json").exists()
    out = run_cli("run", "-e", "mean", *args, "--out", str(tmp_path / "mean.json"), env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "mean.json").is_file()


def test_two_distributions_with_one_entry_point_name_are_reported(tmp_path, monkeypatch, capsys):
    for dist, module in (("gazebench-first", "gb_first"), ("gazebench-second", "gb_second")):
        (tmp_path / dist).mkdir()
        write_dist(tmp_path / dist, dist, "2.0", module, f"""
            from gazebench.plugins import hookimpl

            @hookimpl
            def gazebench_register_purifiers(register):
                register("{module}-purifier", "gazebench_plugins.identity:IdentityPurifier")
            """, "extras")
    monkeypatch.syspath_prepend(str(tmp_path / "gazebench-second"))
    monkeypatch.syspath_prepend(str(tmp_path / "gazebench-first"))  # first on sys.path: loaded
    monkeypatch.delenv("GAZEBENCH_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("GAZEBENCH_STRICT_PLUGINS", raising=False)
    pm = PluginManager()
    message = ("its entry-point name 'extras' is also used by gazebench-first 2.0, which was loaded instead; "
               "uninstall one of the two (pip uninstall gazebench-second or gazebench-first)")
    assert capsys.readouterr().err.strip() == (
        f"gazebench: plugin 'extras' (gazebench-second 2.0) is broken and was skipped: {message}")
    assert pm.plugins["extras"].distribution == "gazebench-first" and not pm.plugins["extras"].broken
    rows = pm.listing()
    assert [r["name"] for r in rows if r["kind"] == "purifier" and r["name"].startswith("gb_")] == ["gb_first-purifier"]
    assert [(r["distribution"], r["summary"]) for r in rows if r["broken"]] == [("gazebench-second", message)]


def test_hook_implementations_naming_no_argument_load(pm, capsys):
    calls = []

    class Plugin:
        @hookimpl
        def gazebench_register_estimators(self):
            calls.append("estimators")

        @hookimpl
        def gazebench_register_commands(self):
            calls.append("commands")

        @hookimpl
        def gazebench_record(self):
            calls.append("record")

    import click

    pm.register(Plugin(), "argless")
    assert "mean" in pm.registry("estimator").names()
    pm.register_commands(click.Group("g"))
    pm.record({"schema": "x"})
    assert calls == ["estimators", "commands", "record"]
    assert not pm.plugins["argless"].broken and capsys.readouterr().err == ""


def test_registering_in_process_under_a_taken_name_is_an_error(pm):
    with pytest.raises(PluginError, match=r"^a plugin named 'basic' is already loaded \(gazebench 0.1.0\); "
                                          r"register yours under another name"):
        pm.register(object(), "basic")
    assert not pm.plugins["basic"].broken


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


def test_lazy_target_whose_module_fails_names_file_and_line(pm, tmp_path, monkeypatch):
    (tmp_path / "gb_half_written.py").write_text("x = 1\nimport no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Plugin:
        @hookimpl
        def gazebench_register_estimators(self, register):
            register("half", "gb_half_written:Half")

    pm.register(Plugin(), "half-plugin")
    with pytest.raises(PluginLoadError) as exc:
        pm.create("estimator", "half")
    assert str(exc.value) == (
        "estimator 'half' from plugin 'half-plugin' (not installed: registered in process) failed to import "
        "'gb_half_written:Half': ModuleNotFoundError: No module named 'no_such_dependency_xyz' "
        f"(at {tmp_path / 'gb_half_written.py'}:2)")


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
    error = f"ImportError: needs libfoo (at {tmp_path / 'gb_broken_plugin.py'}:1)"  # file and line
    assert out.stderr.strip().splitlines() == [
        f"gazebench: plugin 'broken' (gazebench-broken 0.3) is broken and was skipped: {error}"]
    rows = json.loads(out.stdout)
    broken = [r for r in rows if r["broken"]]
    assert broken == [{"kind": "plugin", "name": "broken", "plugin": "broken", "distribution": "gazebench-broken",
                       "version": "0.3", "summary": error, "target": None, "broken": True,
                       "meta": {}, "conflict": None}]
    assert any(r["name"] == "identity" for r in rows)
    # asking for something the broken plugin may have provided says why it is missing
    out = run_cli("run", "-e", "broken-estimator", "--n-train", "10", "--n-test", "5",
                  env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 1
    assert "unknown estimator 'broken-estimator'" in out.stderr
    assert f"'broken' (gazebench-broken 0.3): {error}" in out.stderr


def test_strict_mode_makes_broken_plugin_fatal_but_not_help_or_version(tmp_path):
    write_dist(tmp_path, "gazebench-broken", "0.3", "gb_broken_plugin2", "x = 1\n1/0\n", "broken2")
    env = {"PYTHONPATH": str(tmp_path), "GAZEBENCH_STRICT_PLUGINS": "1"}
    out = run_cli("plugins", env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "Error: plugin 'broken2' (gazebench-broken 0.3) is broken: ZeroDivisionError: division by zero "
        f"(at {tmp_path / 'gb_broken_plugin2.py'}:2) (GAZEBENCH_STRICT_PLUGINS makes this an error; "
        "fix or uninstall the plugin, or unset the variable to skip it)"]  # never "was skipped"
    for args, expected in ((["--help"], "Usage: gazebench"), (["--version"], "gazebench, version 0.1.0"),
                           (["run", "--help"], "Usage: gazebench run")):
        out = run_cli(*args, env=env)
        assert out.returncode == 0 and expected in out.stdout, (args, out.stderr)
        assert "plugin 'broken2'" in out.stderr and "Traceback" not in out.stderr


def test_strict_mode_registration_failure_is_one_line(tmp_path):
    write_dist(tmp_path, "gazebench-half", "0.1", "gb_half", """
        from gazebench.plugins import hookimpl

        @hookimpl
        def gazebench_register_estimators(register):
            register("", "x:y")
        """, "half")
    out = run_cli("plugins", env={"PYTHONPATH": str(tmp_path), "GAZEBENCH_STRICT_PLUGINS": "1"})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("Error: plugin 'half' (gazebench-half 0.1) is broken: gazebench_register_estimators "
                                 "raised PluginError: plugin 'half' registered a estimator with an empty name (at ")


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
