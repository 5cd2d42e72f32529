"""Every label array a dataset hands out is checked: NaN/inf (a zero gaze, a mask label above 3)
is an error naming the dataset or file and the field, never a silently wrong number (issue 13)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from gazebench.testing import make_toy_eyes
from gazebench.types import EyeData, EyeSample, TensorEyeData, check_labels
from gazebench_plugins.datasets._common import BadSample, LazyEyeData, select
from gazebench_plugins.datasets.npz import NpzDataset, write_npz


def _toy_npz(path: Path, n: int = 100, **bad: list[int]) -> Path:
    batch = make_toy_eyes(n, stream=1)
    for field, rows in bad.items():
        values = getattr(batch, field).clone()
        values[rows, 0] = math.nan
        batch = batch.replace(**{field: values})
    return write_npz(path, batch, {"name": "toy"})


def test_npz_with_nan_pupil_or_head_pose_is_an_error_naming_file_and_field(tmp_path):
    path = _toy_npz(tmp_path / "train.npz", pupil=[3, 7])
    with pytest.raises(ValueError) as exc:
        NpzDataset().load("train", root=path)
    assert str(exc.value) == f"{path}: pupil row(s) [3, 7] are NaN or infinite (set npz.skip_bad=true to drop them)"
    path = _toy_npz(tmp_path / "pose.npz", head_pose=[0])
    with pytest.raises(ValueError, match=r"pose\.npz: head_pose row\(s\) \[0\] are NaN or infinite"):
        NpzDataset().load("train", root=path)


def test_npz_skip_bad_drops_rows_with_a_bad_label_of_any_field(tmp_path):
    path = _toy_npz(tmp_path / "train.npz", n=20, pupil=[3, 7], head_pose=[7, 9])
    data = NpzDataset(skip_bad=True).load("train", root=path)
    assert len(data) == 17 and data.info["skipped"] == 3
    assert data.info["skipped_examples"][:2] == [f"{path}: head_pose row 7 is NaN or infinite",
                                                 f"{path}: head_pose row 9 is NaN or infinite"]
    assert torch.isfinite(data.take().pupil).all()


def test_nan_pupil_with_knn_pupil_labels_is_an_error_not_a_silent_result(tmp_path):
    """The issue's case: a NaN pupil with -o knn.pupil=labels gave 13.5 deg instead of 3.8."""
    from gazebench.runner import RunConfig, run

    path = _toy_npz(tmp_path / "train.npz", pupil=[5])
    cfg = RunConfig(train="npz", train_root=str(path), test="toy-wild", n_train=100, n_test=30,
                    estimators=["knn"], purifiers=["identity"], params={"knn": {"pupil": "labels"}},
                    cache=False, device="cpu", out=str(tmp_path / "r.json"))
    with pytest.raises(ValueError, match=rf"^{path}: pupil row\(s\) \[5\] are NaN or infinite"):
        run(cfg, log=lambda m: None)
    assert not (tmp_path / "r.json").exists()


def test_tensor_eye_data_checks_its_labels_naming_the_dataset():
    batch = make_toy_eyes(6, stream=1)
    pose = batch.head_pose.clone()
    pose[1, 1] = math.inf
    with pytest.raises(ValueError) as exc:
        TensorEyeData(batch.replace(head_pose=pose), {"name": "mine", "root": "/data/mine"})
    assert str(exc.value) == ("dataset 'mine' (/data/mine): label 'head_pose' is NaN or infinite in row(s) [1]; "
                              "fix the data or drop those samples (many loaders take -o NAME.skip_bad=true)")
    gaze = batch.gaze.clone()
    gaze[2] = 0
    with pytest.raises(ValueError, match=r"label 'gaze' is NaN, infinite or zero-length in row\(s\) \[2\]"):
        TensorEyeData(batch.replace(gaze=gaze), {"name": "mine"})
    masks = batch.masks.clone()
    masks[4, 0, 0] = 7
    with pytest.raises(ValueError, match=r"label 'masks' is a region label above 3 in row\(s\) \[4\]"):
        check_labels(batch.replace(masks=masks), "dataset 'mine'")
    assert TensorEyeData(batch, {"name": "mine"}).take().pupil.shape == (6, 2)  # good labels pass


class PerSample(EyeData):
    """A third-party EyeData that implements only __len__/__getitem__, with one NaN pupil."""

    info = {"name": "per-sample"}

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> EyeSample:
        s = make_toy_eyes([index], stream=1).sample(0)
        if index == 2:
            s.pupil = torch.tensor([math.nan, 3.0])
        return s


def test_eye_data_take_checks_labels():
    with pytest.raises(ValueError, match=r"^dataset 'per-sample': label 'pupil' is NaN or infinite in row\(s\) \[2\]"):
        PerSample().take()


@dataclass
class Rec:
    path: Path
    index: int


def test_lazy_data_names_the_file_and_skip_bad_drops_the_sample(tmp_path):
    records = [Rec(tmp_path / "day01.mat", i) for i in range(5)]

    def read(rec: Rec) -> dict:
        pose = np.array([math.nan, 0.1]) if rec.index == 3 else np.zeros(2)
        return {"image": np.zeros((1, 8, 8), np.uint8), "gaze": np.array([0.0, 0.0, -1.0]), "head_pose": pose}

    data = LazyEyeData(records, read, {"name": "lazy"})
    assert len(data.batch([0, 1, 2])) == 3
    with pytest.raises(BadSample) as exc:
        data.take()
    assert str(exc.value) == f"{tmp_path / 'day01.mat'} (index 3): label 'head_pose' is NaN or infinite ([nan, 0.1])"
    sel = select(records, None, 0, skip_bad=True, read=read, name="lazy")
    assert [r.index for r in sel.records] == [0, 1, 2, 4] and sel.skipped == 1
