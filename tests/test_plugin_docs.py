"""docs/plugins.md's example dataset plugin, run as written: it must stay true."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from conftest import ROOT
from gazebench.plugins import ComponentParameterError
from gazebench.testing import check_dataset

DOC = ROOT / "docs" / "plugins.md"


def _example_module() -> str:
    text = DOC.read_text()
    section = text[text.index("## A dataset of your own"):]
    return re.search(r"```python\n(# gazebench_mydata/__init__.py\n.*?)```", section, re.S).group(1)


@pytest.fixture
def mydata(tmp_path, monkeypatch, builtin_pm):
    pkg = tmp_path / "site" / "gazebench_mydata"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(_example_module())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    import gazebench_mydata

    builtin_pm.register(gazebench_mydata, "mydata-docs")
    data = tmp_path / "data" / "mydata"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(data / "eyes.npy", rng.integers(0, 256, (10, 36, 60), dtype=np.uint8))
    gaze = np.stack([rng.uniform(-0.3, 0.3, 10), rng.uniform(-0.3, 0.3, 10), -np.ones(10)], 1)
    np.save(data / "gaze.npy", gaze * 2.0)  # not unit length: the example normalises
    monkeypatch.setenv("GAZEBENCH_DATA", str(tmp_path / "data"))
    yield builtin_pm, data, gaze
    sys.modules.pop("gazebench_mydata", None)


def test_the_documented_dataset_loads_from_gazebench_data(mydata):
    pm, data, gaze = mydata
    batch = pm.create("dataset", "mydata").load("test").take()
    assert batch.images.shape == (10, 1, 36, 60)
    expected = gaze / np.linalg.norm(gaze, axis=1, keepdims=True)
    assert np.allclose(batch.gaze.numpy(), expected, atol=1e-6)
    assert len(pm.create("dataset", "mydata", n_max=4).load("train", size=(18, 30)).take()) == 4
    assert check_dataset(pm.create("dataset", "mydata"))


def test_the_documented_dataset_gets_the_documented_errors(mydata, monkeypatch):
    pm, data, gaze = mydata
    with pytest.raises(ComponentParameterError, match=r"^-o mydata.n_max=abc: dataset 'mydata' expects an int or null"):
        pm.create("dataset", "mydata", n_max="abc")
    bad = gaze.copy()
    bad[6, 0] = np.nan
    np.save(data / "gaze.npy", bad)
    with pytest.raises(ValueError, match=rf"^dataset 'mydata' \({re.escape(str(data))}\): label 'gaze' is NaN, "
                                         r"infinite or zero-length in row\(s\) \[6\]"):
        pm.create("dataset", "mydata").load("test")
    monkeypatch.delenv("GAZEBENCH_DATA")
    with pytest.raises(FileNotFoundError, match=r"^dataset 'mydata': no root given; pass --train-root/--test-root "
                                                r"\(or --root\) or set GAZEBENCH_DATA so that \$GAZEBENCH_DATA/mydata "
                                                r"holds eyes.npy and gaze.npy$"):
        pm.create("dataset", "mydata").load("test")
