"""``gazebench style-compare``: the paper's Fig. 4, feed-forward results as "N Gatys iterations".

Every method is scored on the same objective, the paper's region-level loss (eq. 20) against the
same style targets: projected L-BFGS from noise records the objective after each iteration; a
feed-forward purifier's output is scored once (``GatysPurifier.objective``); its equivalent is the
first iteration at which L-BFGS reaches a value at least as low. Choices the paper leaves open:
feed-forward networks are fitted at the data's native size (the CPU preset) and run at each
compared size directly (``purify_size=None``: fully convolutional, no resize), and the style
target is the mean region Gram of ``--n-style`` style images for every method.

Two answers are scored beside the purifiers: the input itself (``raw``) and, where the content
set is paired with the style set (``synth-wild`` with ``synth``), each eye's paired clean render
(``oracle``: what a perfect purifier returns). A purifier below the oracle is minimising the
objective past the clean eye: the objective alone cannot rank purifiers then (docs/method.md,
"What the objective rewards").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gazebench.cli.options import device_option, seed_option, set_option


def equivalent_iterations(trace: list[float], value: float) -> int | None:
    """1-based index of the first L-BFGS iteration whose objective is <= ``value`` (None: never)."""
    for i, v in enumerate(trace, 1):
        if v <= value:
            return i
    return None


@click.command("style-compare")
@click.option("--purifier", "-p", "purifiers", default="attention,johnson", show_default=True,
              help="Feed-forward purifiers to score, comma-separated.")
@click.option("--content", default="synth-wild", show_default=True, help="Content dataset (test split).")
@click.option("--style", default="synth", show_default=True, help="Style dataset (train split).")
@click.option("--sizes", default="64,128", show_default=True,
              help="Square sizes to compare at (the paper: 256,512,1024; costly on a CPU).")
@click.option("-n", "n_images", type=click.IntRange(1), default=4, show_default=True, help="Content images per size.")
@click.option("--n-style", type=click.IntRange(1), default=16, show_default=True, help="Style images for the targets.")
@click.option("--iterations", type=click.IntRange(1), default=100, show_default=True, help="L-BFGS iterations traced.")
@seed_option()
@device_option()
@set_option(help="A purifier parameter, e.g. -o attention.iterations=600 -o gatys.loss_weights=W.pth.")
@click.option("--out", default=None, help="Write the comparison as JSON (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of a table.")
def style_compare(purifiers: str, content: str, style: str, sizes: str, n_images: int, n_style: int,
                  iterations: int, seed: int, device: str, sets: dict[str, dict[str, Any]], out: str | None,
                  as_json: bool = False) -> None:
    """Score feed-forward purifiers on the paper's objective and express them as L-BFGS iterations.

    \b
    Examples:
      gazebench style-compare                               # attention, johnson at 64 and 128 px
      gazebench style-compare --sizes 256,512 --iterations 300 --out fig4.json
    """
    import statistics

    from rich.console import Console
    from rich.table import Table

    from gazebench.device import resolve_device, seed_everything
    from gazebench.io import write_json_atomic
    from gazebench.plugins import get_plugin_manager
    from gazebench.stages import build
    from gazebench_plugins.purifiers.commands import _load

    pm = get_plugin_manager()
    err = Console(stderr=True)
    names = [p.strip() for p in purifiers.split(",") if p.strip()]
    try:
        px = [int(v) for v in sizes.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{sizes!r}: expected comma-separated sizes, e.g. 64,128") from None
    if not px or min(px) < 16:
        raise click.BadParameter(f"{sizes!r}: sizes must be at least 16")
    dev = resolve_device(device)
    params = sets
    # fit the feed-forward purifiers once, as `gazebench run` does: native size, CPU preset
    _, fit_content = _load(pm, content, "unlabelled", (36, 60), 200, seed, params)
    _, fit_style = _load(pm, style, "train", (36, 60), 200, seed, params)
    fitted = {}
    for name in names:
        pur = build(pm, "purifier", name, {**params.get(name, {}), "purify_size": None}, dev)
        if not hasattr(pur, "purify_size"):
            raise click.ClickException(f"purifier {name!r} is not a feed-forward network with purify_size")
        seed_everything(seed)
        with err.status(f"fitting {name} ..."):
            pur.fit(fit_content.without_labels(), fit_style)
        fitted[name] = pur
    rows: list[dict[str, Any]] = []
    for size in px:
        c_ds, c = _load(pm, content, "test", (size, size), n_images, seed, params)
        _, s = _load(pm, style, "train", (size, size), n_style, seed, params)
        if c.masks is None or s.masks is None:
            raise click.ClickException("style-compare needs datasets with region masks (e.g. synth, synth-wild)")
        # the answers to score beside the purifiers: the input itself and, where the content set
        # is paired with the style set, the paired clean render (what a perfect purifier returns)
        refs = {"raw": c.images}
        if getattr(c_ds, "paired_with", None) == style and c.pair is not None:
            from gazebench.stages import open_dataset

            _, pair_data = open_dataset(pm, style, "test", size=(size, size), seed=seed,
                                        params={**params.get(style, {}), **c_ds.paired_params()})
            refs["oracle"] = pair_data.batch(c.pair.tolist()).images
        gatys = build(pm, "purifier", "gatys", {**params.get("gatys", {}), "loss": "paper", "iterations": iterations,
                                     "n_style": n_style, "progress": False, "seed": seed}, dev)
        gatys.fit(c.without_labels(), s)
        seed_everything(seed)
        with err.status(f"L-BFGS at {size}x{size}: {len(c)} images x {iterations} iterations ..."):
            gatys.purify(c.without_labels())
        traces = gatys.trace_
        row: dict[str, Any] = {"resolution": size, "n_images": len(c), "iterations": iterations,
                               "lbfgs_final": statistics.median(t[-1] for t in traces)}
        outputs = {**refs, **{name: pur.purify(c.without_labels()) for name, pur in fitted.items()}}
        for name, outs in outputs.items():
            vals = gatys.objective(outs, c.images, s.images, (c.masks, s.masks)).tolist()
            eq = [equivalent_iterations(t, v) for t, v in zip(traces, vals)]
            row[f"{name}_objective"] = statistics.median(vals)
            row[f"{name}_equals_iterations"] = eq
        rows.append(row)
    notes = list(dict.fromkeys(n for p in [*fitted.values(), gatys] for n in p.record_notes()))
    shown = [*names, *(k for k in ("raw", "oracle") if rows and f"{k}_objective" in rows[0])]
    record = {"schema": "gazebench.style-compare/1", "purifiers": names, "content": content, "style": style,
              "seed": seed, "device": dev, "notes": notes, "rows": rows}
    if as_json:
        import json

        click.echo(json.dumps(record, indent=2))
    table = Table(title="feed-forward output = N iterations of projected L-BFGS (paper's objective)")
    table.add_column("px", justify="right")
    table.add_column("L-BFGS final", justify="right")
    for name in shown:
        table.add_column(f"{name} objective", justify="right")
        table.add_column(f"{name} = iterations", justify="right")
    for r in rows:
        cells = [str(r["resolution"]), f"{r['lbfgs_final']:.4g}"]
        for name in shown:
            eq = [f">{iterations}" if e is None else str(e) for e in r[f"{name}_equals_iterations"]]
            cells += [f"{r[f'{name}_objective']:.4g}", ", ".join(eq)]
        table.add_row(*cells)
    if not as_json:
        Console().print(table)
        if "oracle" in shown:
            err.print("raw: the input itself; oracle: its paired clean render, what a perfect purifier returns "
                      "(a purifier below the oracle minimises the objective past the clean eye)")
    if out:
        write_json_atomic(Path(out), record)
        err.print(f"wrote {out}")
