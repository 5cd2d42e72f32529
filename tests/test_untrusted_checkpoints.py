"""A forged svr/rf checkpoint in the cache is refused in one line and runs nothing (issue 13).

Each payload is first shown to be live (loading it the unsafe way writes the marker file), so a
marker that never appears after gazebench's load proves gazebench ran nothing.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest
import torch

from gazebench.io import load_state
from gazebench.testing import make_toy_eyes
from gazebench_plugins.estimators.classical import RandomForestEstimator, SVREstimator


class WritesMarker:
    """Unpickling this runs code: it writes ``marker`` (a stand-in for any payload)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


class SetStateWritesMarker:
    """A class skops would rebuild with ``__setstate__``, which here writes a marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state):
        Path(state["marker"]).write_text("pwned")
        self.__dict__.update(state)


def forge_joblib_entry(ckpt: Path, est_class: type, marker: Path, sklearn_file: str) -> None:
    """The attack of issue 13: a format-1 checkpoint whose joblib sidecar carries a payload and
    whose recorded hash matches it; ``sklearn_file`` may also point outside the cache."""
    side = Path(sklearn_file) if Path(sklearn_file).is_absolute() else ckpt.parent / sklearn_file
    side.write_bytes(pickle.dumps(WritesMarker(marker)))
    torch.save({"format": "gazebench-estimators/1", "class": est_class.__qualname__, "params": {},
                "uses_head_pose": True, "seed": 0, "state": {}, "sklearn_file": sklearn_file,
                "sklearn_sha256": hashlib.sha256(side.read_bytes()).hexdigest()}, ckpt)


def test_the_payload_is_live(tmp_path):
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(WritesMarker(marker)))
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("est_class", [SVREstimator, RandomForestEstimator])
@pytest.mark.parametrize("outside", [False, True])
def test_forged_joblib_checkpoint_is_refused_and_runs_nothing(tmp_path, est_class, outside):
    cache = tmp_path / "cache"
    cache.mkdir()
    marker = tmp_path / "marker"
    ckpt = cache / "est.ckpt"
    sklearn_file = str(tmp_path / "elsewhere.joblib") if outside else "est.ckpt.joblib"
    forge_joblib_entry(ckpt, est_class, marker, sklearn_file)
    with pytest.raises(ValueError) as exc:
        est_class().load(ckpt)
    assert str(exc.value) == (
        f"checkpoint {ckpt} was not written by {est_class.__qualname__}.save() of this version "
        "(format 'gazebench-estimators/1', expected 'gazebench-estimators/2'); delete it to have it rebuilt")
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoint_that_is_itself_a_pickle_payload_is_refused(tmp_path):
    marker, ckpt = tmp_path / "marker", tmp_path / "est.ckpt"
    ckpt.write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(ValueError) as exc:
        SVREstimator().load(ckpt)
    assert str(exc.value) == (
        f"checkpoint {ckpt} could not be read (UnpicklingError: it holds objects a weights-only load "
        "refuses, e.g. a pickle that would run code); delete it to have it rebuilt")
    assert not marker.exists()


def test_skops_bytes_naming_an_untrusted_type_are_refused_before_skops_runs_them(tmp_path):
    import skops.io

    marker, ckpt = tmp_path / "marker", tmp_path / "rf.ckpt"
    evil = skops.io.dumps(SetStateWritesMarker(marker))
    skops.io.loads(evil, trusted=[SetStateWritesMarker])  # live: trusting it runs __setstate__
    assert marker.read_text() == "pwned"
    marker.unlink()

    est = RandomForestEstimator(n_estimators=2, seed=0).fit(make_toy_eyes(30, stream=1))
    est.save(ckpt)
    state = load_state(ckpt)
    state["sklearn_skops"] = torch.frombuffer(bytearray(evil), dtype=torch.uint8).clone()
    torch.save(state, ckpt)
    with pytest.raises(ValueError) as exc:
        RandomForestEstimator().load(ckpt)
    assert str(exc.value) == (
        f"checkpoint {ckpt}: refusing to load a scikit-learn model naming untrusted type(s) "
        f"{__name__}.SetStateWritesMarker; delete the checkpoint to have it rebuilt")
    assert not marker.exists()
    # garbage instead of a skops file: the same kind of line, no traceback from zipfile
    state["sklearn_skops"] = torch.zeros(10, dtype=torch.uint8)
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match="is not a readable skops file .*delete the checkpoint"):
        RandomForestEstimator().load(ckpt)


def test_gazebench_run_refuses_a_forged_svr_cache_entry(tmp_path):
    """The issue's scenario: `gazebench run -p identity -e svr` twice, the cache forged between."""
    from gazebench.runner import RunConfig, run

    cfg = dict(train="toy", test="toy-wild", n_train=100, n_test=30, purifiers=["identity"],
               estimators=["svr"], cache_dir=str(tmp_path / "cache"), device="cpu")
    first = run(RunConfig(**cfg, out=str(tmp_path / "a.json")), log=lambda m: None)
    (ckpt,) = (tmp_path / "cache" / "estimators").glob("svr-*.ckpt")
    again = run(RunConfig(**cfg, out=str(tmp_path / "b.json")), log=lambda m: None)
    assert again["estimators"][0]["fit_cached"] is True
    assert again["rows"][0]["raw_mean_deg"] == first["rows"][0]["raw_mean_deg"]

    marker = tmp_path / "marker"
    forge_joblib_entry(ckpt, SVREstimator, marker, ckpt.name + ".joblib")
    with pytest.raises(ValueError, match=r"was not written by SVREstimator\.save\(\) of this version"):
        run(RunConfig(**cfg, out=str(tmp_path / "c.json")), log=lambda m: None)
    assert not marker.exists()
