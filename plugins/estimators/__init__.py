"""Plugin ``estimators``: the gaze estimators of the paper's Table 2, and a timm backbone.

Every target is a lazy ``"module:Class"`` string, so listing plugins never imports torch or
scikit-learn. The features they share live in :mod:`gazebench_plugins.estimators.features`.
"""

from gazebench.plugins import hookimpl

_PKG = "gazebench_plugins.estimators"


@hookimpl
def gazebench_register_estimators(register):
    register("svr", f"{_PKG}.classical:SVREstimator",
             summary="Support Vector Regression (RBF) of pitch/yaw on HOG features (+ head pose).")
    register("alr", f"{_PKG}.alr:ALREstimator",
             summary="Adaptive Linear Regression (Lu et al.): sparse reconstruction on the 15-D grid feature.")
    register("rf", f"{_PKG}.classical:RandomForestEstimator",
             summary="Random forest regression of pitch/yaw on HOG features (+ head pose).")
    register("knn", f"{_PKG}.knn:CascadedKNNEstimator",
             summary="Cascaded k-NN: neighbours by head pose, then pupil centre, then HOG appearance.")
    register("cnn", f"{_PKG}.neural:CNNEstimator",
             summary="The paper's CNN (conv 32-32-64, pool, conv 80-192, pool, FC 1000, FC 3), early stopping.")
    register("timm", f"{_PKG}.neural:TimmEstimator",
             summary="Any timm backbone (default resnet18, from scratch) with 1-channel input and a gaze head.")
