"""Plugin ``basic``: the floor every table needs, and a tiny generated dataset.

- purifier ``identity``: returns its input (the "raw" column, as a purifier).
- estimator ``mean``: predicts the training set's mean gaze, renormalised.
- datasets ``toy`` / ``toy-wild``: a tiny, crude generated eye set (discs on a flat face) for
  tests and smoke runs; the embedded renderer's ``synth``/``synth-wild`` are the real default.
"""

from gazebench.plugins import hookimpl


@hookimpl
def gazebench_register_purifiers(register):
    register("identity", "gazebench_plugins.identity:IdentityPurifier",
             summary="Returns its input unchanged: the raw baseline as a purifier.")


@hookimpl
def gazebench_register_estimators(register):
    register("mean", "gazebench_plugins.mean:MeanEstimator",
             summary="Predicts the training set's mean gaze vector, renormalised: the floor.")


@hookimpl
def gazebench_register_datasets(register):
    register("toy", "gazebench_plugins.toy:ToyEyes",
             summary="Tiny generated eyes (flat discs), clean style: for tests and smoke runs.")
    register("toy-wild", "gazebench_plugins.toy:ToyEyesWild",
             summary="The same tiny generated eyes with wild lighting, noise and blur (paired with toy).")
