"""``gazebench speed``: seconds per image of purifiers across resolutions (the paper's Table 1)."""

from __future__ import annotations

import json
import sys

import click

from gazebench.cli.options import dataset_option, device_option, seed_option, set_option
from gazebench.plugins import PluginError, get_plugin_manager


def _ints(text: str, minimum: int = 8, what: str = "resolutions") -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected comma-separated integers, e.g. 256,512,1024") from None
    if not values or min(values) < minimum:
        raise click.BadParameter(f"{text!r}: {what} must be at least {minimum}")
    return values


@click.command("speed")
@click.option("--purifier", "-p", "purifiers", multiple=True, default=("all",), show_default=True,
              help="Purifier name(s): repeat, comma-separate, or 'all'.")
@click.option("--resolutions", default="256,512,1024", show_default=True, help="Square sizes in pixels.")
@device_option()
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True,
              help="Timed runs per measurement (median reported).")
@click.option("--warmup", type=click.IntRange(0), default=1, show_default=True, help="Untimed runs first.")
@click.option("--batch", type=click.IntRange(1), default=4, show_default=True,
              help="Largest batch of the throughput column: 1, 2, 4, ... up to it are timed and the best "
                   "images/s reported (1: batch 1 only).")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16", "fp32", "bf16", "fp16"]),
              default="float32", show_default=True,
              help="Autocast precision of the purifiers' networks (a purifier parameter, e.g. "
                   "-o attention.dtype=bf16 for run/purify). Any knob adds a row per purifier beside "
                   "fp32 eager, with its speed-up and its output error against it.")
@click.option("--channels-last", is_flag=True, help="Channels-last memory format of the purifiers' networks.")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the purifiers' networks (the first call per size compiles: seconds to a minute).")
@click.option("--setting", "settings", multiple=True,
              help="A further knob setting timed as its own rows, '+'-joined: fp32|bf16|fp16, channels_last, "
                   "compile (e.g. --setting channels_last --setting bf16+channels_last). Repeatable.")
@click.option("--no-probe", is_flag=True, help="Skip the matmul/conv peak probes (no fraction-of-peak column).")
@click.option("--iterations", "iterations", type=click.IntRange(1), default=400, show_default=True,
              help="Iterations an optimisation-based purifier (one declaring an iteration parameter) is "
                   "projected to; the paper times Gatys at 400.")
@click.option("--timed-iterations", default="2,12", show_default=True,
              help="The two small iteration counts actually timed for the projection.")
@click.option("--baseline", "baselines", multiple=True,
              help="Purifier(s) the 'x vs' columns compare against. Default: the timed purifiers that "
                   "declare themselves speed baselines.")
@dataset_option("--dataset", help="Dataset whose test images are timed, rendered or resized to each "
                                  "resolution. Default: the default test set.", root=False)
@set_option(help="A purifier (or the dataset's) parameter, e.g. -o attention.width=32.")
@seed_option(help="Seed of the images and of every purifier.")
@click.option("--out", default=None, help="Record path (default results/runs/speed-<UTC time>.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON instead of a table.")
@click.option("--wide", is_flag=True, help="One line per purifier and size with every column (min, max, images/s, "
                                           "speed-ups, errors), unfitted, instead of the paper's Table 1.")
def speed(purifiers: tuple[str, ...], resolutions: str, device: str, repeats: int, warmup: int, batch: int,
          dtype: str, channels_last: bool, compile_: bool, iterations: int, timed_iterations: str,
          baselines: tuple[str, ...], dataset: str | None, sets: dict[str, dict], seed: int, out: str | None,
          as_json: bool, wide: bool, no_probe: bool, settings: tuple[str, ...]) -> None:
    """Time purifiers alone: seconds per image at each resolution, images/s, speed-ups.

    Optimisation-based purifiers (those with an `iterations` parameter, e.g. Gatys) are timed at
    two small iteration counts and projected to --iterations; their rows say so. Gatys is timed on
    the paper's VGG-19 (random weights: the same cost) and on the run's own loss network.

    Every row also says how far it is from this machine's limit: GFLOP per image (counted),
    GFLOP/s achieved, and the fraction of the peak a matmul and a conv probe measure beside it.

    \b
    Examples:
      gazebench speed                                   # every purifier, 256/512/1024, best device
      gazebench speed -p attention,johnson --resolutions 256,512 --device cpu
      gazebench speed -p gatys --iterations 400 --timed-iterations 2,12
      gazebench speed -p attention,johnson --channels-last --dtype bf16   # + rows vs fp32 eager
    """
    from rich.console import Console

    from gazebench.cli.options import split_names
    from gazebench.runner import RunError, format_command
    from gazebench.speed import SpeedConfig, run_speed

    err = Console(stderr=True)
    k = _ints(timed_iterations, 1, "iteration counts")
    if len(k) != 2 or k[0] >= k[1]:
        raise click.BadParameter(f"{timed_iterations!r}: expected two increasing counts, e.g. 2,4")
    from gazebench.speed import parse_setting

    for text in settings:
        try:
            parse_setting(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--setting") from None
    try:
        from gazebench.checks import check_output_file

        check_output_file(out, "--out", dir_ok=True)
        names = split_names(purifiers, "purifier")
        for kind, n in [("purifier", n) for n in [*names, *split_names(baselines, "purifier")]] + \
                [("dataset", dataset)] * bool(dataset):
            get_plugin_manager().spec(kind, n)
        cfg = SpeedConfig(purifiers=names, resolutions=_ints(resolutions), device=device, repeats=repeats,
                          warmup=warmup, batch=batch, dtype=dtype, channels_last=channels_last,
                          compile=compile_, settings=list(settings), probe=not no_probe, iterations=iterations, timed_iterations=(k[0], k[1]),
                          baselines=split_names(baselines, "purifier"), dataset=dataset, params=sets, seed=seed, out=out, command=format_command(sys.argv[1:]))
        record = run_speed(cfg, log=lambda m: err.print(f"[dim]{m}[/dim]"))
    except (PluginError, RunError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    print_speed(record, wide=wide)
    err.print(f"record written to {record['path']}")


def print_speed(record: dict, *, wide: bool = False) -> None:
    """A speed record on screen: Table 1 and the speed-ups fitted to the screen, or with ``wide``
    one line per purifier and size with every column."""
    from gazebench.cli.screen import echo_caption, echo_layouts
    from gazebench.layouts import table1
    from gazebench.results import caption, compact, table

    if wide:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        headers, rows = compact(*table(record))
        t = Table(title="seconds per image", box=box.SIMPLE_HEAD, pad_edge=False)
        for i, h in enumerate(headers):
            t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for r in rows:
            t.add_row(*r)
        Console(width=max(Console().width, 240)).print(t)
    else:
        echo_layouts(table1(record))
    echo_caption(caption(record), wide=wide)
