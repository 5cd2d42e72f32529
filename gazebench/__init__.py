"""gazebench: a plugin-based benchmark harness for attention-guided eye-image purification.

The core defines the component interfaces (:mod:`gazebench.api`), the data containers
(:mod:`gazebench.types`), the gaze convention (:mod:`gazebench.geometry`) and the plugin
contract (:mod:`gazebench.hookspecs`); every dataset, purifier, segmenter and estimator is a plugin.
"""

from gazebench.plugins import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
