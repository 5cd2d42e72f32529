"""Packaging invariants that a non-editable install (CI, users) depends on."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("gazebench", "gazebench"), ("plugins", "gazebench_plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_entry_points_name_importable_plugin_packages():
    import importlib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for name, target in cfg["project"]["entry-points"]["gazebench"].items():
        module = importlib.import_module(target)
        assert module.__name__.startswith("gazebench_plugins"), name


def test_core_never_imports_a_plugin_by_name():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "gazebench").rglob("*.py")
                 if "gazebench_plugins" in p.read_text()]
    assert offenders == []
