"""Plugin ``synth``: registered through ``[project.entry-points.gazebench]``; registers nothing yet."""
