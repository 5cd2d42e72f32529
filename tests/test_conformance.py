"""Every registered component goes through the public conformance kit with its ``test_params``.

New plugins are picked up automatically: registering a component is enough to have it checked.
"""

from __future__ import annotations

import pytest

from gazebench.plugins import KINDS, get_plugin_manager, reset_plugin_manager
from gazebench.testing import ConformanceError, check_estimator, check_purifier, check_registered


def _components():
    reset_plugin_manager()
    pm = get_plugin_manager()
    return [(kind, name) for kind in KINDS for name in pm.registry(kind).names()]


@pytest.mark.parametrize("kind,name", _components(), ids=lambda v: str(v))
def test_registered_component_conforms(kind, name):
    pm = get_plugin_manager()
    cls = pm.spec(kind, name).load()
    if kind == "dataset" and getattr(cls, "needs_root", False):
        pytest.skip(f"dataset {name!r} reads files from disk; its own tests run check_dataset on files they write")
    assert check_registered(kind, name)


def test_kit_catches_a_broken_estimator():
    from gazebench_plugins.mean import MeanEstimator

    class NotUnit(MeanEstimator):
        def predict(self, batch):
            return super().predict(batch) * 2

    with pytest.raises(ConformanceError, match="unit vectors"):
        check_estimator(NotUnit)

    class ForgetsSelf(MeanEstimator):
        def fit(self, train):
            super().fit(train)

    with pytest.raises(ConformanceError, match="fit\\(\\) must return self"):
        check_estimator(ForgetsSelf)


def test_kit_catches_a_purifier_that_changes_shape():
    from gazebench_plugins.identity import IdentityPurifier

    class Cropper(IdentityPurifier):
        def purify(self, batch):
            return batch.images[..., 1:, :].contiguous()

    with pytest.raises(ConformanceError, match="changed the shape"):
        check_purifier(Cropper)
