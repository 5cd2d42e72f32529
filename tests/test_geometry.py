import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gazebench.geometry import (angular_error_deg, error_summary, normalize, pitchyaw_to_vector,
                                vector_to_pitchyaw)


def test_straight_at_camera_is_pitch0_yaw0():
    np.testing.assert_allclose(vector_to_pitchyaw(np.array([0.0, 0.0, -1.0])), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(pitchyaw_to_vector(np.array([0.0, 0.0])), [0.0, 0.0, -1.0], atol=1e-12)


def test_known_directions():
    # looking 30 degrees up: y is down in the camera frame, so up is -y; pitch +30
    up30 = np.array([0.0, -math.sin(math.radians(30)), -math.cos(math.radians(30))])
    np.testing.assert_allclose(vector_to_pitchyaw(up30), [math.radians(30), 0.0], atol=1e-12)
    # looking towards -x (the camera's left): yaw +90
    np.testing.assert_allclose(vector_to_pitchyaw(np.array([-1.0, 0.0, 0.0])), [0.0, math.pi / 2], atol=1e-12)
    # 45 degrees right in the horizontal plane
    v = pitchyaw_to_vector(np.array([0.0, -math.pi / 4]))
    np.testing.assert_allclose(v, [math.sqrt(0.5), 0.0, -math.sqrt(0.5)], atol=1e-12)


def test_angular_error_known_answers():
    a = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [1.0, 1.0, 0.0]])
    b = np.array([[0.0, 0.0, -2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(angular_error_deg(a, b), [0.0, 90.0, 180.0, 45.0], atol=1e-6)


def test_torch_and_numpy_agree():
    py = np.array([[0.1, -0.3], [-0.2, 0.5]])
    vt = pitchyaw_to_vector(torch.tensor(py))
    assert isinstance(vt, torch.Tensor)
    np.testing.assert_allclose(vt.numpy(), pitchyaw_to_vector(py), atol=1e-12)
    e = angular_error_deg(vt, torch.tensor([[0.0, 0.0, -1.0]] * 2, dtype=torch.float64))
    assert isinstance(e, torch.Tensor)
    np.testing.assert_allclose(e.numpy(), angular_error_deg(pitchyaw_to_vector(py), np.array([[0, 0, -1.0]] * 2)))


@given(st.floats(-1.5, 1.5), st.floats(-3.1, 3.1))
def test_pitchyaw_round_trip(pitch, yaw):
    v = pitchyaw_to_vector(np.array([pitch, yaw]))
    assert abs(np.linalg.norm(v) - 1) < 1e-12
    np.testing.assert_allclose(vector_to_pitchyaw(v), [pitch, yaw], atol=1e-7)


def test_zero_and_nan_vectors_are_errors():
    with pytest.raises(ValueError, match="row"):
        normalize(np.array([[0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="not finite"):
        angular_error_deg(np.array([[np.nan, 0, -1.0]]), np.array([[0, 0, -1.0]]))


def test_error_summary_values_and_curve():
    s = error_summary([1.0, 2.0, 3.0, 10.0], curve_max_deg=4, curve_step_deg=2)
    assert s["mean_deg"] == 4.0 and s["median_deg"] == 2.5 and s["n"] == 4
    assert s["std_deg"] == pytest.approx(np.std([1, 2, 3, 10]))
    assert s["curve"] == [[0.0, 0.0], [2.0, 0.5], [4.0, 0.75]]
    assert error_summary([])["mean_deg"] is None
