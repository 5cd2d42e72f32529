"""Bad values given through ``-o NAME.PARAM=VALUE``: one line naming the option, the type and an
example, before any work (issue 13). Checked generically where components are created."""

from __future__ import annotations

from typing import Literal, Sequence

import pytest

from conftest import run_cli
from gazebench.params import check_params, describe
from gazebench.plugins import ComponentParameterError, PluginManager

BAD = [
    ("dataset", "toy", {"n_train": "abc"}, "-o toy.n_train=abc: dataset 'toy' expects an int, e.g. -o toy.n_train=2000"),
    ("dataset", "toy", {"n_train": 10.5}, "-o toy.n_train=10.5: dataset 'toy' expects an int, e.g. -o toy.n_train=2000"),
    ("dataset", "toy", {"n_train": True}, "-o toy.n_train=true: dataset 'toy' expects an int, e.g. -o toy.n_train=2000"),
    ("dataset", "toy", {"n_trian": 5},
     "-o toy.n_trian: dataset 'toy' has no parameter 'n_trian'; it takes n_train, n_test, n_unlabelled"),
    ("dataset", "mpiigaze", {"subjects": "abc"},
     "-o mpiigaze.subjects=abc: dataset 'mpiigaze' expects a list of ints or null, e.g. -o mpiigaze.subjects=[0, 1]"),
    ("dataset", "mpiigaze", {"subjects": [0, "p01"]},
     "-o mpiigaze.subjects=[0, \"p01\"]: dataset 'mpiigaze' expects a list of ints or null, "
     "e.g. -o mpiigaze.subjects=[0, 1]"),
    ("estimator", "svr", {"C": "big"}, "-o svr.C=big: estimator 'svr' expects a number, e.g. -o svr.C=3.0"),
    ("estimator", "svr", {"pca": 2.5}, "-o svr.pca=2.5: estimator 'svr' expects an int or null, e.g. -o svr.pca=1"),
]

GOOD = [
    ("dataset", "toy", {"n_train": 30, "n_test": 10}),
    ("dataset", "mpiigaze", {"subjects": [0, 1], "test_subject": None, "skip_bad": True}),
    ("estimator", "svr", {"C": 2, "gamma": "scale", "pca": None}),  # an int where a float is asked
    ("estimator", "svr", {"gamma": 0.1}),
    ("estimator", "rf", {"max_features": None, "n_estimators": 3}),
]


@pytest.fixture(scope="module")
def manager():
    return PluginManager(strict=False)


@pytest.mark.parametrize("kind,name,params,message", BAD)
def test_bad_value_is_one_line_naming_option_type_and_example(manager, kind, name, params, message):
    with pytest.raises(ComponentParameterError) as exc:
        manager.create(kind, name, **params)
    assert str(exc.value) == message


@pytest.mark.parametrize("kind,name,params", GOOD)
def test_good_values_pass(manager, kind, name, params):
    manager.check_params(kind, name, params)


class Annotated:
    """A third-party style constructor: every annotation form the checker understands."""

    def __init__(self, mode: Literal["fast", "exact"] = "fast", size: tuple[int, int] = (36, 60),
                 weights: Sequence[float] = (1.0,), path: "SomethingUnresolvable" = None,  # noqa: F821
                 n: "int | None" = None) -> None:
        pass


def test_annotation_forms():
    check = lambda **p: check_params(Annotated, p, kind="purifier", name="x")  # noqa: E731
    check(mode="exact", size=[8, 8], weights=[1, 2.5], path={"anything": 1}, n=None)
    with pytest.raises(ComponentParameterError, match=r'^-o x.mode=slow: purifier \'x\' expects one of "fast", '
                                                      r'"exact", e.g. -o x.mode=fast$'):
        check(mode="slow")
    with pytest.raises(ComponentParameterError, match=r"^-o x.size=\[8\]: purifier 'x' expects a list of 2 "
                                                      r"\(an int, an int\), e.g. -o x.size=\[36, 60\]$"):
        check(size=[8])
    with pytest.raises(ComponentParameterError, match=r"expects a list of numbers"):
        check(weights="heavy")
    with pytest.raises(ComponentParameterError, match=r"^-o x.n=1.5: purifier 'x' expects an int or null"):
        check(n=1.5)
    assert describe(int | None) == "an int or null"


def test_kwargs_constructor_takes_any_name():
    def factory(a: int = 1, **rest):
        return None

    check_params(factory, {"anything": "x"}, kind="estimator", name="f")
    with pytest.raises(ComponentParameterError, match="expects an int"):
        check_params(factory, {"a": "x"}, kind="estimator", name="f")


def test_gazebench_run_refuses_a_bad_value_in_one_line(tmp_path):
    # (the runner builds the training set after loading the test set; checking every component's
    # -o values up front, with PluginManager.check_params, is the runner's plan stage: issue 11)
    out = run_cli("run", "-p", "identity", "-e", "mean", "--train", "toy", "--test", "toy-wild", "--n-train", "100",
                  "--n-test", "30", "-o", "toy.n_train=abc", "--out", str(tmp_path / "r.json"), "--no-cache")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        "Error: -o toy.n_train=abc: dataset 'toy' expects an int, e.g. -o toy.n_train=2000")
    assert not (tmp_path / "r.json").exists()
