"""``gazebench realism``: how far apart two datasets' images are (domain classifiers, statistics)."""

from __future__ import annotations

import json
import sys

import click

from gazebench.cli.options import SizeType, seed_option, set_option


def _items(text: str) -> list[str]:
    """A comma list's items, stripped, empty ones and repeats dropped, in order."""
    return list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))


@click.command("realism")
@click.option("--a", "a", required=True, metavar="NAME", help="Dataset A (e.g. the real images).")
@click.option("--a-root", default=None, metavar="DIR", help="Where A is on disk (a folder or file).")
@click.option("--a-split", default=None, help="A's split (default: test, else unlabelled, else its first).")
@click.option("--a-slice", default=None, metavar="START:STOP", help="Only these samples of A (a held-out part).")
@click.option("--b", "b", required=True, metavar="NAME", help="Dataset B (e.g. the renderer's images).")
@click.option("--b-root", default=None, metavar="DIR", help="Where B is on disk.")
@click.option("--b-split", default=None, help="B's split (default as --a-split).")
@click.option("--b-slice", default=None, metavar="START:STOP", help="Only these samples of B.")
@click.option("-n", "n", type=click.IntRange(10), default=600, show_default=True,
              help="Images per set at most (the larger set is subsampled to the smaller).")
@click.option("--size", type=SizeType(), default="36x60", show_default=True, help="Both sets are compared at HxW, gray.")
@click.option("--classifiers", default="hist,intensity,gradient,hog,convnet", show_default=True,
              help="Comma list of: intensity, gradient, hist (both histograms), pixels, hog, convnet, layoutnet "
                   "(a second, position-aware network: the convnet's layers read by a dense layer).")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Cross-validation folds.")
@click.option("--convnet-epochs", type=click.IntRange(1), default=20, show_default=True,
              help="Training epochs of each fold's network (convnet and layoutnet).")
@click.option("--bands", default="", metavar="LIST",
              help="Also run the classifiers on both sets filtered to these bands: low (Gaussian blur, "
                   "sigma 2 px at 60 px wide: the shape and shading), high (minus a sigma 1.5 px blur: the "
                   "fine texture). Says which of the two gives B away.")
@click.option("--rows", default="", metavar="LIST",
              help="Also run the classifiers on these horizontal bands of rows only, e.g. 0:12,12:24,24:36 "
                   "(at least 12 rows each): which part of the crop (brow and lid, eye, cheek) gives B away.")
@click.option("--sensitivity", is_flag=True,
              help="Also say what the convnet tells A from B by: each fold's net classifies its held-out images "
                   "after one manipulation at a time (noise, blur, sharpening, JPEG, equalisation, gamma, a mirror, "
                   "a 2 px shift); a manipulation that moves the calls names a property the net reads.")
@click.option("--identity-floor", type=click.IntRange(0), default=0, show_default=True, metavar="K",
              help="Also measure K of B's subjects, each one's images against the rest of B: what a perfect model of B "
                   "would score against one person. Read A's accuracy against it when A is one participant "
                   "(B must give subject ids: synth, synth-wild, mpiigaze, npz with 'subject').")
@click.option("--identity-pool", type=click.IntRange(1), default=None, metavar="N",
              help="Draw those subjects from N samples of B's split, from its --b-slice start (default 20 x -n). "
                   "A set read in subject order (mpiigaze: 3,000 samples a participant) needs all of it, e.g. 45000 "
                   "for MPIIGaze's 15; the table says when the pool holds fewer subjects than asked.")
@set_option(help="A dataset parameter, e.g. -o synth-wild.severity=0.5 (JSON values).")
@seed_option(help="Seed of the data, the folds and the classifiers.")
@click.option("--grid", default=None, metavar="PNG", help="Write a side-by-side grid (A left, B right) here.")
@click.option("--out", default=None, help="Record path (default results/runs/realism-<UTC time>.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON instead of a table.")
def realism(a: str, a_root: str | None, a_split: str | None, a_slice: str | None, b: str, b_root: str | None,
            b_split: str | None, b_slice: str | None, n: int, size: tuple[int, int], classifiers: str, folds: int,
            convnet_epochs: int, bands: str, rows: str, sensitivity: bool, identity_floor: int,
            identity_pool: int | None, sets: dict, seed: int, grid: str | None, out: str | None, as_json: bool) -> None:
    """Measure how far apart the images of datasets A and B are.

    A classifier learns to tell A's images from B's; its held-out accuracy (stratified k-fold
    cross-validation, fixed seed, sets balanced so chance is 0.5) is the distance: from blunt
    (logistic regression on intensity and gradient histograms) to sharp (HOG, a small convnet).
    Beside it: image statistics of both sets (blur, dark centre, border brightness, side light).
    Both sets are compared as gray images of one size.

    To score purified images, write them first (`gazebench purify ... --out DIR`) and compare
    that folder: `--a folder --a-root DIR/PURIFIER/images`.

    \b
    Examples:
      gazebench realism --a npz --a-root ../shared/data/mpiigaze-unlabelled/eyes.npz --b synth-wild
      gazebench realism --a npz --a-root eyes.npz --a-slice 400:600 --b synth-wild -n 200 --grid g.png
      gazebench realism --a folder --a-root purified/attention/images --b synth --classifiers hist
      gazebench realism --a npz --a-root eyes.npz --b synth-wild --classifiers convnet --bands low,high
      gazebench realism --a npz --a-root eyes.npz --b synth-wild --classifiers convnet --rows 0:12,12:24,24:36
      gazebench realism --a npz --a-root eyes.npz --a-slice 400:600 --b synth-wild -n 200 --identity-floor 5
      gazebench realism --a npz --a-root eyes.npz --b synth-wild -n 400 --classifiers convnet --sensitivity
    """
    from gazebench.plugins import PluginError, get_plugin_manager
    from gazebench.realism import RealismConfig, run_realism, table_lines
    from gazebench.runner import RunError, format_command

    try:
        from gazebench.checks import check_output_file

        check_output_file(out, "--out", dir_ok=True)
        check_output_file(grid, "--grid")
        pm = get_plugin_manager()
        for name in (a, b):
            pm.spec("dataset", name)
        cfg = RealismConfig(a=a, b=b, a_root=a_root, b_root=b_root, a_split=a_split, b_split=b_split,
                            a_slice=a_slice, b_slice=b_slice, n=n, size=tuple(size),
                            classifiers=_items(classifiers), folds=folds, seed=seed, cnn_epochs=convnet_epochs,
                            params=sets, bands=_items(bands), rows=_items(rows), sensitivity=sensitivity,
                            identity_floor=identity_floor,
                            identity_pool=identity_pool, grid=grid, out=out,
                            command=format_command(sys.argv[1:]))
        record = run_realism(cfg, pm, log=lambda m: click.echo(m, err=True))
    except (PluginError, RunError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    for line in table_lines(record):
        click.echo(line)
    click.echo(f"record written to {record['path']}" + (f"; grid {record['grid']}" if record.get("grid") else ""),
               err=True)
