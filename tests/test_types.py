import pytest
import torch

from gazebench.testing import make_toy_eyes
from gazebench.types import EyeBatch, EyeSample, TensorEyeData, resize_batch, to_gray, to_rgb


def test_batch_validation_errors_are_one_line():
    with pytest.raises(ValueError, match=r"must be uint8, got torch.float32"):
        EyeBatch(images=torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) with C 1 or 3, got \(2, 4, 4\)"):
        EyeBatch(images=torch.zeros(2, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="gaze has 3 rows but images has 2"):
        EyeBatch(images=torch.zeros(2, 1, 4, 4, dtype=torch.uint8), gaze=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="masks must be"):
        EyeBatch(images=torch.zeros(2, 1, 4, 4, dtype=torch.uint8), masks=torch.zeros(2, 4, 5, dtype=torch.uint8))


def test_collate_keeps_only_common_labels_and_indexing():
    a = EyeSample(image=torch.zeros(1, 4, 4, dtype=torch.uint8), gaze=torch.tensor([0, 0, -1.0]), subject=3)
    b = EyeSample(image=torch.ones(1, 4, 4, dtype=torch.uint8), gaze=torch.tensor([0, 1.0, 0]), subject=4)
    batch = EyeBatch.collate([a, b])
    assert batch.images.shape == (2, 1, 4, 4) and batch.masks is None
    assert batch.subject.tolist() == [3, 4]
    assert batch[1].gaze.tolist() == [[0, 1.0, 0]]
    assert len(EyeBatch.concat([batch, batch])) == 4
    assert batch.without_labels().gaze is None


def test_tensor_eye_data_round_trip():
    batch = make_toy_eyes(5)
    data = TensorEyeData(batch, {"name": "x"})
    assert len(data) == 5 and torch.equal(data[2].image, batch.images[2])
    assert torch.equal(data.take(3).images, batch.images[:3])
    assert torch.equal(data.batch([4, 0]).gaze, batch.gaze[[4, 0]])
    with pytest.raises(IndexError):
        data[5]


def test_to_gray_known_answer():
    img = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert to_gray(img).flatten().tolist() == [76] * 4  # 0.299 * 255 = 76.2
    assert to_rgb(to_gray(img)).shape == (1, 3, 2, 2)


def test_resize_maps_pupil_centre_with_pixel_centres():
    batch = make_toy_eyes(3, (36, 60))
    big = resize_batch(batch, (72, 120))
    assert big.images.shape == (3, 1, 72, 120) and big.masks.shape == (3, 72, 120)
    # pixel x maps to 2x + 0.5
    assert torch.allclose(big.pupil, batch.pupil * 2 + 0.5)
    # the pupil mask's centroid follows the reported centre
    for i in range(3):
        ys, xs = torch.nonzero(big.masks[i] == 3, as_tuple=True)
        assert abs(xs.float().mean() - big.pupil[i, 0]) < 0.75 and abs(ys.float().mean() - big.pupil[i, 1]) < 0.75


def test_make_toy_eyes_is_per_index_deterministic():
    whole = make_toy_eyes([0, 1, 2, 3], wild=True)
    part = make_toy_eyes([2, 3], wild=True)
    assert torch.equal(whole.images[2:], part.images)
    assert not torch.equal(make_toy_eyes([2], stream=1).images, make_toy_eyes([2], stream=2).images)
    # toy pupil centroid within half a pixel of the reported centre
    b = make_toy_eyes(20)
    for i in range(20):
        ys, xs = torch.nonzero(b.masks[i] == 3, as_tuple=True)
        assert abs(xs.float().mean() - b.pupil[i, 0]) < 0.5 and abs(ys.float().mean() - b.pupil[i, 1]) < 0.5
