"""gazebench's built-in plugins (importable as ``gazebench_plugins``).

Each submodule named in ``[project.entry-points.gazebench]`` of pyproject.toml is a plugin,
registered exactly as a third-party package registers its own; the core never imports them.
"""
