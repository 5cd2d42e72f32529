"""Plugin ``segmenters``: registered through ``[project.entry-points.gazebench]``; registers nothing yet."""
