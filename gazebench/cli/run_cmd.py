"""``gazebench run``: angular error raw vs purified (the paper's Table 2)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from gazebench.plugins import PluginError, get_plugin_manager

#: (train, test) pairs tried in order when --train/--test are not given: the embedded
#: renderer's sets when installed, else the core's tiny generated set.
DEFAULT_DATA = (("synth", "synth-wild"), ("toy", "toy-wild"))


def split_names(values: tuple[str, ...], kind: str) -> list[str]:
    """Repeated and comma-separated component names; ``all`` = every registered one of ``kind``."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if "all" in names:
        return get_plugin_manager().registry(kind).names()
    return list(dict.fromkeys(names))


def parse_size(text: str, minimum: int = 8) -> tuple[int, int]:
    """``"36x60"`` -> ``(36, 60)``; a click error for anything else or a side below ``minimum``.

    Public so that plugin commands take ``--size HxW`` exactly as ``gazebench run`` does.
    """
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected HxW, e.g. 36x60") from None
    if h < minimum or w < minimum:
        raise click.BadParameter(f"{text!r}: images must be at least {minimum}x{minimum}")
    return h, w


def parse_sets(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``("cnn.epochs=5", "toy.n_train=30")`` -> ``{"cnn": {"epochs": 5}, "toy": {"n_train": 30}}``.

    Values parse as JSON where they can (numbers, booleans, lists), else stay strings. Public so
    that plugin commands take ``-o COMPONENT.PARAM=VALUE`` exactly as ``gazebench run`` does.
    """
    params: dict[str, dict[str, Any]] = {}
    for item in values:
        key, eq, raw = item.partition("=")
        comp, dot, opt = key.partition(".")
        if not eq or not dot or not comp or not opt:
            raise click.BadParameter(f"{item!r}: expected COMPONENT.PARAM=VALUE, e.g. cnn.epochs=5")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params.setdefault(comp, {})[opt] = value
    return params


def _default_data() -> tuple[str, str]:
    reg = get_plugin_manager().registry("dataset")
    for train, test in DEFAULT_DATA:
        if train in reg and test in reg:
            return train, test
    raise click.ClickException("no default dataset is installed; pass --train and --test")


@click.command("run")
@click.option("--estimator", "-e", "estimators", multiple=True, default=("mean",), show_default=True,
              help="Estimator name(s): repeat, comma-separate, or 'all'.")
@click.option("--purifier", "-p", "purifiers", multiple=True, default=("identity",), show_default=True,
              help="Purifier name(s): repeat, comma-separate, or 'all'.")
@click.option("--train", default=None,
              help="Training dataset(s) (labelled, synthetic), comma-separated: one set of rows each. "
                   "Default: synth, else toy.")
@click.option("--test", default=None, help="Test dataset (labelled, real-like). Default: synth-wild, else toy-wild.")
@click.option("--train-root", default=None, help="Folder of the training dataset on disk.")
@click.option("--test-root", default=None, help="Folder of the test dataset on disk.")
@click.option("--masks", default="auto", show_default=True,
              help="Region masks for purifiers that need them: auto (the dataset's, else the best "
                   "segmenter), dataset (alias: landmarks), or a segmenter name.")
@click.option("--size", default="36x60", show_default=True, help="Image size HxW the data is loaded at.")
@click.option("--n-train", type=int, default=1000, show_default=True, help="Training samples (0: all).")
@click.option("--n-test", type=int, default=200, show_default=True, help="Test samples (0: all).")
@click.option("--n-unlabelled", type=int, default=200, show_default=True,
              help="Unlabelled test-style samples a purifier is fitted on (0: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="One seed for data, fitting and noise.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")
@click.option("--set", "-o", "sets", multiple=True, metavar="COMPONENT.PARAM=VALUE",
              help="A constructor parameter of a component, e.g. -o cnn.epochs=5 (values parse as JSON).")
@click.option("--out", default=None, help="Record path (default results/runs/run-<UTC time>.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON instead of a table.")
@click.option("--plots", default=None, metavar="DIR",
              help="Write cumulative_error.png (Fig. 7) and samples.png (raw | purified | oracle) to DIR.")
@click.option("--pupil-segmenter", default="auto", show_default=True,
              help="How the pupil-shift column finds pupils: auto (the test set's iris masks, else the "
                   "best segmenter), a segmenter name, or '' to skip.")
@click.option("--no-cache", is_flag=True, help="Refit and recompute everything; write nothing to the cache.")
@click.option("--cache-dir", default=None, help="Cache folder (default $GAZEBENCH_CACHE, else ~/.cache/gazebench).")
def run(estimators: tuple[str, ...], purifiers: tuple[str, ...], train: str | None, test: str | None,
        train_root: str | None, test_root: str | None, masks: str, size: str, n_train: int,
        n_test: int, n_unlabelled: int, seed: int, device: str, sets: tuple[str, ...],
        out: str | None, as_json: bool, plots: str | None, pupil_segmenter: str, no_cache: bool,
        cache_dir: str | None) -> None:
    """Train estimators on synthetic eyes; test them on real-style eyes, raw and purified.

    Each row is one estimator x purifier: mean/median angular error (degrees) on the raw test
    images, on the purified ones, and, when the test set is paired with a clean rendering of the
    same eyes, on that oracle, with the share of the gap the purifier closed.

    Fitted purifiers and estimators and purified test sets are cached, keyed by a hash of their
    parameters and the bytes of their data: an interrupted run resumes where it stopped.

    \b
    Examples:
      gazebench run --purifier identity --estimator mean
      gazebench run -p identity -e mean --train toy --test toy-wild --n-test 100
      gazebench run -p all -e all --seed 1 --out table2.json
    """
    from rich.console import Console

    from gazebench.runner import RunConfig, RunError, format_command
    from gazebench.runner import run as run_pipeline

    err = Console(stderr=True)
    try:
        if train is None or test is None:
            dtrain, dtest = _default_data()
            train, test = train or dtrain, test or dtest
        trains = [t.strip() for t in train.split(",") if t.strip()]
        cfg = RunConfig(
            train=trains[0] if len(trains) == 1 else trains, test=test, estimators=split_names(estimators, "estimator"),
            purifiers=split_names(purifiers, "purifier"), masks=masks, size=parse_size(size),
            n_train=n_train or None, n_test=n_test or None, n_unlabelled=n_unlabelled or None,
            seed=seed, device=device, train_root=train_root, test_root=test_root,
            params=parse_sets(sets), out=out, command=format_command(sys.argv[1:]),
            cache=not no_cache, cache_dir=cache_dir, plots=plots, pupil_segmenter=pupil_segmenter or None)
        record = run_pipeline(cfg, log=lambda m: err.print(f"[dim]{m}[/dim]"))
    except (PluginError, RunError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    _print_table(record, Console())
    err.print(f"record written to {record['path']}")


def _print_table(record: dict[str, Any], console: Any) -> None:
    """The run's rows on screen, fitting 80 columns; train/test go in the title."""
    from rich import box
    from rich.table import Table

    from gazebench.results import caption

    cfg = record["config"]
    trains = list(dict.fromkeys(r["train"] for r in record["rows"]))
    t = Table(title=f"angular error (deg), train {', '.join(trains)} -> test {cfg['test']}",
              caption=caption(record), box=box.SIMPLE_HEAD, pad_edge=False)
    names = (("estimator", "estimator", "s"),) + ((("train", "train", "s"),) if len(trains) > 1 else ())
    # medians make way for the train column on an 80-column screen; `gazebench report` has all
    medians = len(trains) == 1
    cols = names + (("purifier", "purifier", "s"), ("n_test", "n", "d"), ("raw_mean_deg", "raw mean", ".2f")) \
        + ((("raw_median_deg", "raw med", ".2f"),) if medians else ()) + (("purified_mean_deg", "pur. mean", ".2f"),) \
        + ((("purified_median_deg", "pur. med", ".2f"),) if medians else ()) \
        + (("oracle_mean_deg", "oracle", ".2f"), ("gap_closed", "gap closed", ".0%"))
    for i, (_, head, _) in enumerate(cols):
        t.add_column(head, justify="left" if i <= len(names) else "right", no_wrap=i <= len(names))
    for r in record["rows"]:
        t.add_row(*("-" if r.get(k) is None else format(r[k], f) for k, _, f in cols))
    console.print(t)
