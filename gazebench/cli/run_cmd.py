"""``gazebench run``: angular error raw vs purified (the paper's Table 2)."""

from __future__ import annotations

import json
from typing import Any
import sys

import click

from gazebench.cli.options import (dataset_option, default_names, device_option, parse_sets, parse_size,
                                   seed_option, set_option, size_option, split_names)
from gazebench.plugins import PluginError

__all__ = ["run", "parse_sets", "parse_size", "split_names"]  # the parsers live in gazebench.cli.options


@click.command("run")
@click.option("--estimator", "-e", "estimators", multiple=True,
              help="Estimator name(s): repeat, comma-separate, or 'all'. Default: the installed default (mean).")
@click.option("--purifier", "-p", "purifiers", multiple=True,
              help="Purifier name(s): repeat, comma-separate, or 'all'. Default: the installed default "
                   "(identity: raw images only).")
@dataset_option("--train", help="Training dataset(s) (labelled, synthetic), comma-separated: one set of rows "
                                "each. Default: the default test set's clean pair (synth, else toy).")
@dataset_option("--test", help="Test dataset (labelled, real-like). Default: synth-wild, else toy-wild.")
@dataset_option("--content", help="Unlabelled real-style images the purifiers are fitted on (its 'unlabelled' "
                                  "split, else its first). Default: the test set's unlabelled split.")
@click.option("--masks", default="auto", show_default=True,
              help="Region masks for purifiers that need them: auto (the dataset's, else the best "
                   "segmenter), dataset (alias: landmarks), or a segmenter name (it then segments the test and "
                   "content images even where the dataset has masks, as for real eyes; the style set keeps its own).")
@size_option()
@click.option("--n-train", type=click.IntRange(0), default=1000, show_default=True, help="Training samples (0: all).")
@click.option("--n-test", type=click.IntRange(0), default=200, show_default=True, help="Test samples (0: all).")
@click.option("--n-unlabelled", type=click.IntRange(0), default=200, show_default=True,
              help="Unlabelled test-style samples a purifier is fitted on (0: all).")
@seed_option()
@click.option("--seeds", default=None, metavar="N,N,...",
              help="Repeat the whole run (data, fits, scores) once per seed, e.g. --seeds 0,1,2; rows carry "
                   "their seed and the record a summary across seeds. Overrides --seed.")
@device_option()
@set_option()
@click.option("--out", default=None, help="Record path (default results/runs/run-<UTC time>.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON instead of a table.")
@click.option("--wide", is_flag=True, help="Every column (medians, intervals, raw - purified, pupil shift), "
                                           "unfitted; `gazebench report` gives the paper's tables.")
@click.option("--plots", default=None, metavar="DIR",
              help="Write cumulative_error.png (Fig. 7) and samples.png (raw | purified | oracle) to DIR.")
@click.option("--pupil-segmenter", default="auto", show_default=True,
              help="How the pupil-shift column finds pupils: auto (the test set's iris masks, else the "
                   "best segmenter), a segmenter name, or '' to skip.")
@click.option("--no-cache", is_flag=True, help="Refit and recompute everything; write nothing to the cache.")
@click.option("--cache-dir", default=None, help="Cache folder (default $GAZEBENCH_CACHE, else ~/.cache/gazebench).")
@click.option("--config", "config_file", default=None, metavar="FILE.toml",
              help="Run the experiment (or grid) in a TOML file; options given here override it "
                   "(docs/grids.md).")
@click.option("--rerun", default=None, metavar="RECORD.json",
              help="Run a record's own configuration again; options given here override it.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run the tasks in this process, or as Ray tasks (pip install \"gazebench[ray]\"; the cache "
                   "folder must be on storage every node sees).")
@click.option("--address", default=None, metavar="ADDR",
              help="With --executor ray: the cluster to join (auto: the one `ray start` began; default: "
                   "start a local one).")
def run(estimators: tuple[str, ...], purifiers: tuple[str, ...], train: str | None, test: str | None,
        train_root: str | None, test_root: str | None, content: str | None, content_root: str | None,
        masks: str, size: tuple[int, int], n_train: int, n_test: int, n_unlabelled: int, seed: int,
        seeds: str | None, device: str,
        sets: dict[str, dict],
        out: str | None, as_json: bool, wide: bool, plots: str | None, pupil_segmenter: str, no_cache: bool,
        cache_dir: str | None, config_file: str | None, rerun: str | None, executor: str,
        address: str | None) -> None:
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
      gazebench run --config examples/table2.toml --executor ray --address auto
    """
    from rich.console import Console

    from gazebench.runner import RunConfig, RunError, format_command

    from gazebench.executors import run_grid

    err = Console(stderr=True)
    if config_file and rerun:
        raise click.UsageError("give --config or --rerun, not both")
    try:
        trains = [t.strip() for t in (train or "").split(",") if t.strip()]
        cfg = RunConfig(
            train=(trains[0] if len(trains) == 1 else trains) or None, test=test,
            estimators=default_names(estimators, "estimator"), purifiers=default_names(purifiers, "purifier"),
            masks=masks, size=size, n_train=n_train or None, n_test=n_test or None,
            n_unlabelled=n_unlabelled or None, seed=seed, seeds=_seeds(seeds), device=device,
            train_root=train_root, test_root=test_root, content=content, content_root=content_root, params=sets,
            out=out, command=format_command(sys.argv[1:]),
            cache=not no_cache, cache_dir=cache_dir, plots=plots, pupil_segmenter=pupil_segmenter or None,
            executor=executor, address=address)
        cfgs = [cfg]
        if config_file or rerun:
            cfgs = _from_file(config_file, rerun, cfg)
        records = run_grid(cfgs, log=lambda m: err.print(f"[dim]{m}[/dim]"), executor=cfgs[0].executor,
                           address=cfgs[0].address)
    except (PluginError, RunError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(records[0] if len(records) == 1 else records, indent=2))
        return
    # one line per row, fitted to the screen with every number whole (`gazebench report`: the
    # paper's pivot); --wide: every column and interval, unfitted
    from gazebench.cli.screen import echo_caption, echo_layouts
    from gazebench.layouts import run_rows_layout
    from gazebench.results import caption

    for record in records:
        echo_layouts([run_rows_layout(record, wide=wide)], wide=wide)
        echo_caption(caption(record), wide=wide)
        err.print(f"record written to {record['path']}")


#: ``run`` options -> the RunConfig field each sets (what the command line may override in a file)
_FIELDS = {"estimators": "estimators", "purifiers": "purifiers", "train": "train", "test": "test",
           "train_root": "train_root", "test_root": "test_root", "content": "content", "content_root": "content_root",
           "masks": "masks", "size": "size", "n_train": "n_train", "n_test": "n_test", "n_unlabelled": "n_unlabelled",
           "seed": "seed", "seeds": "seeds", "device": "device", "sets": "params", "out": "out", "plots": "plots",
           "pupil_segmenter": "pupil_segmenter", "no_cache": "cache", "cache_dir": "cache_dir",
           "executor": "executor", "address": "address"}


def _from_file(config_file: str | None, rerun: str | None, cli_cfg: Any) -> list[Any]:
    """The grid of ``--config`` / ``--rerun``, with the options the user typed laid over it."""
    from click.core import ParameterSource

    from gazebench.config import load_config, rerun_config
    from gazebench.plugins import get_plugin_manager

    ctx = click.get_current_context()
    given = [p for p in _FIELDS if ctx.get_parameter_source(p) not in (ParameterSource.DEFAULT, None)]
    overrides = {_FIELDS[p]: getattr(cli_cfg, _FIELDS[p]) for p in given}
    pm = get_plugin_manager()
    if config_file:
        return load_config(config_file, pm, overrides, command=cli_cfg.command)
    return rerun_config(rerun, pm, overrides, command=cli_cfg.command)


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated seeds, e.g. 0,1,2", param_hint="--seeds") from None
    if not values or min(values) < 0 or max(values) >= 2**63:
        raise click.BadParameter(f"{text!r}: seeds are integers in [0, 2**63)", param_hint="--seeds")
    return values
