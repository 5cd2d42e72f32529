"""Experiment files (--config, --rerun), the run as a plan of tasks, and the local executor."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gazebench.cli import cli
from gazebench.config import ConfigError, load_config
from gazebench.plan import build_plan, entries, is_cached
from gazebench.plugins import get_plugin_manager
from gazebench.runner import RunConfig

ROOT = Path(__file__).resolve().parents[1]
TOY = ["--train", "toy", "--test", "toy-wild", "--n-train", "60", "--n-test", "20", "--n-unlabelled", "20"]
GRID = """
train = "toy"
test = "toy-wild"
estimators = ["mean", "knn"]
purifiers = ["identity", "reinhard"]
n_train = 60
n_test = 20
n_unlabelled = 20
seeds = [0, 1]
device = "cpu"

[params.knn]
k = 3
"""
#: what may differ between two runs of the same grid
TIMING = {"fit_seconds", "fit_cached", "purify_cached", "purify_seconds_per_image", "predict_seconds_per_image"}


def _rows(path):
    return json.loads(Path(path).read_text())["rows"]


def _invoke(args):
    res = CliRunner().invoke(cli, ["run", *args])
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


def test_config_gives_the_rows_of_the_same_command_line(grid, tmp_path):
    _invoke(["--config", str(grid), "--cache-dir", str(tmp_path / "c1"), "--out", str(tmp_path / "file.json")])
    _invoke([*TOY, "-e", "mean,knn", "-p", "identity,reinhard", "--seeds", "0,1", "--device", "cpu",
             "-o", "knn.k=3", "--no-cache", "--out", str(tmp_path / "cli.json")])
    file_rows, cli_rows = _rows(tmp_path / "file.json"), _rows(tmp_path / "cli.json")
    assert len(file_rows) == 8  # 2 estimators x 2 purifiers x 2 seeds
    assert file_rows == cli_rows
    record = json.loads((tmp_path / "file.json").read_text())
    assert record["config"]["params"] == {"knn": {"k": 3}} and record["config"]["seeds"] == [0, 1]
    # the plan: per seed 2 purifications, 1 pupil step, 2 fits, 2 scores; none cached the first time
    assert record["tasks"]["total"] == 14 and record["tasks"]["keyed"] == 12 and record["tasks"]["cached"] == 0


def test_the_table2_file_is_the_table2_command_line(monkeypatch):
    """examples/grids/table2.toml plans exactly what README's Table 2 command line plans."""
    import gazebench.executors

    seen = []
    monkeypatch.setattr(gazebench.executors, "run_grid", lambda cfgs, **kw: seen.append((cfgs, kw)) or [])
    _invoke(["--config", str(ROOT / "examples" / "grids" / "table2.toml")])
    _invoke(["-p", "identity,reinhard,johnson,attention", "-e", "mean,svr,alr,rf,knn,cnn,timm",
             "--out", "results/cpu/table2.json", "--plots", "results/cpu/table2"])
    (file_cfgs, file_kw), (cli_cfgs, cli_kw) = seen
    assert len(file_cfgs) == len(cli_cfgs) == 1
    assert {**file_kw, "log": None} == {**cli_kw, "log": None} == {"log": None, "executor": "local", "address": None}
    a, b = file_cfgs[0], cli_cfgs[0]
    b.train, b.test = b.train or "synth", b.test or "synth-wild"  # the CLI leaves them to the defaults
    assert {**vars(a), "command": ""} == {**vars(b), "command": ""}


def test_every_example_grid_loads():
    pm = get_plugin_manager()
    for path in sorted((ROOT / "examples" / "grids").glob("*.toml")):
        assert load_config(path, pm), path
    paper = load_config(ROOT / "examples" / "grids" / "table2-paper.toml", pm)
    assert paper[0].train == ["utview", "syntheseyes", "unityeyes"] and paper[0].seeds == [0, 1, 2]


def test_a_matrix_axis_gives_one_record_per_point_and_the_command_line_wins(grid, tmp_path):
    grid.write_text(GRID + '\n[matrix]\n"knn.k" = [1, 7]\nn_test = [20, 10]\n')
    cfgs = load_config(grid, get_plugin_manager())
    assert [(c.params["knn"]["k"], c.n_test) for c in cfgs] == [(1, 20), (1, 10), (7, 20), (7, 10)]
    assert cfgs[1].grid == {"knn.k": 1, "n_test": 10}
    # the command line's -o knn.k and --n-test replace the file's axes: one point
    one = load_config(grid, get_plugin_manager(), {"params": {"knn": {"k": 2}}, "n_test": 5})
    assert len(one) == 1 and one[0].params["knn"] == {"k": 2} and one[0].n_test == 5
    out = tmp_path / "g.json"
    _invoke(["--config", str(grid), "--seed", "0", "--n-test", "12", "--cache-dir", str(tmp_path / "c"),
             "--out", str(out)])
    records = [json.loads((tmp_path / f"g-{i}.json").read_text()) for i in (1, 2)]
    assert [r["config"]["grid"] for r in records] == [{"knn.k": 1}, {"knn.k": 7}]
    assert all(r["config"]["seeds"] is None and {x["n_test"] for x in r["rows"]} == {12} for r in records)
    knn = [next(x for x in r["rows"] if x["estimator"] == "knn") for r in records]
    mean = [next(x for x in r["rows"] if x["estimator"] == "mean") for r in records]
    assert knn[0]["raw_mean_deg"] != knn[1]["raw_mean_deg"]  # k changed the estimator
    assert mean[0]["raw_mean_deg"] == mean[1]["raw_mean_deg"]  # and nothing else


def test_rerun_runs_a_records_own_config_again(tmp_path):
    first = tmp_path / "first.json"
    _invoke([*TOY, "-e", "knn", "-p", "reinhard", "-o", "knn.k=4", "--seed", "3", "--no-cache", "--out", str(first)])
    _invoke(["--rerun", str(first), "--no-cache", "--out", str(tmp_path / "again.json")])
    assert _rows(first) == _rows(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["config"]["params"] == {"knn": {"k": 4}} and again["config"]["seed"] == 3
    _invoke(["--rerun", str(first), "--no-cache", "--n-test", "10", "--out", str(tmp_path / "ten.json")])
    assert {r["n_test"] for r in _rows(tmp_path / "ten.json")} == {10}


BAD = [
    ("unknown key", 'estimator = ["knn"]\n', "estimator: unknown key"),
    ("wrong type", 'n_train = "many"\n', "n_train: expected an integer >= 0 (0: all), got \"many\""),
    ("wrong type in a list", "seeds = [0, -1]\n", "seeds: expected an integer in [0, 2**63), got [0, -1]"),
    ("bad size", 'size = "36by60"\n', 'size: expected "HxW" or [H, W]'),
    ("unknown estimator", 'estimators = ["knn", "nope"]\n', "estimators: no estimator named 'nope'"),
    ("unknown dataset", 'content = "nope"\n', "content: no dataset named 'nope'"),
    ("unknown component in params", "[params.nope]\nk = 1\n", "params.nope: no component is named 'nope'"),
    ("unknown parameter", "[params.knn]\nkk = 1\n", "params.knn.kk: estimator 'knn' has no parameter 'kk'"),
    ("parameter of the wrong type", '[params.knn]\nk = "five"\n', "params.knn.k=five: estimator 'knn' expects an int"),
    ("bad parameter in a matrix", '[matrix]\n"knn.k" = [3, "x"]\n',
     "params.knn.k=x: estimator 'knn' expects an int, e.g. params.knn.k=8 (matrix point knn.k = 'x')"),
    ("matrix value not a list", "[matrix]\nn_train = 5\n", "matrix.n_train: expected a non-empty list"),
    ("matrix axis unknown", "[matrix]\nnope = [1]\n", "matrix.nope: unknown axis"),
    ("matrix axis that is one per grid", '[matrix]\nexecutor = ["local"]\n',
     "matrix.executor: executor is one per grid"),
    ("unknown executor", 'executor = "dask"\n', "executor: expected one of 'local', 'ray'"),
    ("not TOML", "n_train = \n", "not valid TOML"),
]


@pytest.mark.parametrize("text,expect", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_files_are_one_line_errors_before_any_work(tmp_path, text, expect):
    path = tmp_path / "exp.toml"
    path.write_text('train = "toy"\ntest = "toy-wild"\n' + text)
    res = CliRunner().invoke(cli, ["run", "--config", str(path), "--cache-dir", str(tmp_path / "cache"),
                                   "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 1, res.output
    message = res.output.strip()
    assert message.startswith(f"Error: {path}: ") and "\n" not in message, message
    assert expect in message, message
    assert not (tmp_path / "cache").exists() and not (tmp_path / "r.json").exists()  # nothing was done


def test_ray_refuses_a_numbered_gpu_before_any_work(tmp_path):
    res = CliRunner().invoke(cli, ["run", *TOY, "--executor", "ray", "--device", "cuda:1",
                                   "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 1 and "use --device cuda, not a numbered one" in res.output, res.output
    assert not (tmp_path / "c").exists()


def test_bad_rerun_and_missing_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"schema": "gazebench.speed/1", "config": {}}')
    for args, expect in ((["--rerun", str(bad)], "not a run record"),
                         (["--rerun", str(tmp_path / "none.json")], "no such file"),
                         (["--config", str(tmp_path / "none.toml")], "no such file"),
                         (["--config", str(bad), "--rerun", str(bad)], "not both")):
        res = CliRunner().invoke(cli, ["run", *args])
        assert res.exit_code != 0 and expect in res.output, res.output


def test_tasks_are_keyed_by_the_cache_and_a_grid_resumes(grid, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "a.json"
    _invoke(["--config", str(grid), "--cache-dir", str(cache), "--out", str(out)])
    pm = get_plugin_manager()
    [cfg] = load_config(grid, pm, {"cache_dir": str(cache)})
    gp = build_plan([cfg], pm, log=lambda m: None)
    by_id = {t.id: t for t in gp.tasks}
    for t in gp.tasks:  # explicit dependencies: a score needs its fit and its group's purifications
        if t.kind == "score":
            kinds = sorted(by_id[d].kind for d in t.deps)
            assert kinds == ["fit", "pupil"] and by_id[t.deps[1]].deps and all(
                by_id[d].kind == "purify" for d in by_id[t.deps[1]].deps)
    keyed = [t for t in gp.tasks if t.key]
    assert len(keyed) == 12 and all(is_cached(gp, t) for t in keyed)  # the run wrote every entry
    assert all(str(p.name).endswith(f"{t.key}{p.suffix}") for t in keyed for p in entries(gp, t)[:1])
    # an interrupted grid: drop the entries of one score and one estimator fit, run again
    score = next(t for t in keyed if t.kind == "score" and t.name == "knn")
    fit = next(t for t in keyed if t.kind == "fit" and t.name == "knn")
    for p in entries(gp, score) + entries(gp, fit):
        p.unlink()
    _invoke(["--config", str(grid), "--cache-dir", str(cache), "--out", str(tmp_path / "b.json")])
    tasks = json.loads((tmp_path / "b.json").read_text())["tasks"]
    redone = sorted(t["id"] for t in tasks["list"] if not t["cached"] and t["kind"] != "pupil")
    assert redone == sorted([score.id, fit.id])
    assert _rows(out) == _rows(tmp_path / "b.json")


def test_an_overall_progress_bar_counts_the_tasks(grid, tmp_path, monkeypatch):
    import gazebench.executors
    from gazebench import progress as real

    seen = []

    def spy(total, text, enabled=True):
        seen.append([total, text, 0])

        class Ctx:
            def __enter__(self):
                return lambda n=1, **kw: seen[-1].__setitem__(2, seen[-1][2] + n)

            def __exit__(self, *a):
                return False

        return Ctx()

    monkeypatch.setattr(gazebench.executors, "progress", spy)
    _invoke(["--config", str(grid), "--no-cache", "--seed", "0", "--out", str(tmp_path / "r.json")])
    assert seen == [[7, "grid tasks", 7]]
    assert real.progress is not spy


def test_config_errors_name_file_and_key_without_the_cli(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text("[params]\nknn = 3\n")
    with pytest.raises(ConfigError, match=r"e\.toml: params\.knn: expected a table"):
        load_config(path, get_plugin_manager())
    assert isinstance(RunConfig().grid, dict) and RunConfig().executor == "local"


def test_the_local_executor_writes_the_record_runner_run_writes(tmp_path):
    """Two training sets x two seeds: the plan's record equals the serial runner's, but for timings."""
    from gazebench.executors import run_grid
    from gazebench.runner import run

    cfg = RunConfig(train=["toy", "toy-wild"], test="toy-wild", estimators=["knn", "mean"],
                    purifiers=["reinhard", "identity"],
                    n_train=40, n_test=16, n_unlabelled=16, seeds=[2, 5], device="cpu", cache=False)
    serial = run(RunConfig(**{**vars(cfg), "out": str(tmp_path / "s.json")}), log=lambda m: None)
    [planned] = run_grid([RunConfig(**{**vars(cfg), "out": str(tmp_path / "p.json")})], log=lambda m: None)

    def untimed(stats):
        return [{k: v for k, v in s.items() if k not in TIMING} for s in stats]

    assert len(planned["rows"]) == 16 and planned["rows"] == serial["rows"]
    assert [(r["train"], r["seed"], r["estimator"], r["purifier"]) for r in planned["rows"]][:3] == [
        ("toy", 2, "knn", "reinhard"), ("toy", 2, "knn", "identity"), ("toy", 2, "mean", "reinhard")]
    for key in ("purifiers", "estimators"):
        assert untimed(planned[key]) == untimed(serial[key])
    for key in ("notes", "datasets", "summary"):
        assert planned[key] == serial[key], key
    assert {**planned["config"], "out": None} == {**serial["config"], "out": None}
    assert planned["tasks"]["total"] == 2 * 2 * 7 and "tasks" not in serial


def test_all_names_every_registered_component(tmp_path):
    path = tmp_path / "all.toml"
    path.write_text('train = "toy"\ntest = "toy-wild"\nestimators = "all"\npurifiers = ["identity", "all"]\n')
    [cfg] = load_config(path, get_plugin_manager())
    pm = get_plugin_manager()
    assert cfg.estimators == pm.registry("estimator").names() and cfg.purifiers == pm.registry("purifier").names()


def test_the_local_executor_never_imports_ray(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom gazebench.cli import cli\n"
            f"res = CliRunner().invoke(cli, ['run', *{TOY!r}, '-e', 'mean', '-p', 'identity', '--no-cache', "
            f"'--out', {str(tmp_path / 'r.json')!r}])\n"
            "assert res.exit_code == 0, res.output\nprint('ray' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_tasks_with_the_same_key_wait_for_the_first(tmp_path):
    """An identity purification is the same for both training sets: one key, computed once."""
    pm = get_plugin_manager()
    cfg = RunConfig(train=["toy", "toy-wild"], test="toy-wild", estimators=["mean"], purifiers=["identity", "reinhard"],
                    n_train=30, n_test=10, n_unlabelled=10, device="cpu", cache_dir=str(tmp_path / "c"))
    gp = build_plan([cfg], pm, log=lambda m: None)
    purify = {(gp.groups[t.group].train_name, t.name): t for t in gp.tasks if t.kind == "purify"}
    first, second = purify["toy", "identity"], purify["toy-wild", "identity"]
    assert first.key == second.key and second.deps == [first.id] and not first.deps
    assert purify["toy", "reinhard"].key != purify["toy-wild", "reinhard"].key  # fitted on another style
    assert purify["toy-wild", "reinhard"].deps == []


def test_an_interrupted_grid_resumes_where_it_stopped(grid, tmp_path, monkeypatch):
    """Stopped at its 9th task (seed 1's second purification), the grid's next run redoes only the rest."""
    import gazebench.executors as ex
    from gazebench.executors import run_grid

    pm = get_plugin_manager()
    [cfg] = load_config(grid, pm, {"cache_dir": str(tmp_path / "c")})
    real, calls = ex._run_here, []

    def dies(gp, t):
        if len(calls) == 8:
            raise KeyboardInterrupt
        calls.append(t.id)
        return real(gp, t)

    monkeypatch.setattr(ex, "_run_here", dies)
    with pytest.raises(KeyboardInterrupt):
        run_grid([RunConfig(**{**vars(cfg), "out": str(tmp_path / "cut.json")})], pm=pm, log=lambda m: None)
    monkeypatch.setattr(ex, "_run_here", real)
    assert not (tmp_path / "cut.json").exists()
    [resumed] = run_grid([RunConfig(**{**vars(cfg), "out": str(tmp_path / "r.json")})], pm=pm, log=lambda m: None)
    cached = {t["id"] for t in resumed["tasks"]["list"] if t["cached"]}
    # seed 0's 6 keyed tasks and seed 1's first purification; pupil steps are recomputed
    assert cached == {c for c in calls if not c.startswith("pupil")} and len(cached) == 7
    [fresh] = run_grid([RunConfig(**{**vars(cfg), "cache": False, "out": str(tmp_path / "f.json")})], pm=pm,
                       log=lambda m: None)
    assert resumed["rows"] == fresh["rows"]


def test_the_grid_files_in_the_docs_load(tmp_path):
    import re

    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "grids.md").read_text(), re.S)
    readme = (ROOT / "README.md").read_text()
    blocks += [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[project" not in b]
    assert len(blocks) == 2
    for i, block in enumerate(blocks):
        path = tmp_path / f"{i}.toml"
        path.write_text(block)
        assert load_config(path, get_plugin_manager())
