"""``gazebench plot``: a record's figures drawn after the fact, as PNG and SVG files."""

from __future__ import annotations

from pathlib import Path

import click

from gazebench.cli.report_cmd import read_record


@click.command("plot")
@click.argument("record", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, metavar="DIR",
              help="Folder the figures are written to (created if needed).")
@click.option("--format", "formats", default="png,svg", show_default=True,
              help="Comma-separated file formats (any matplotlib writes: png, svg, pdf).")
@click.option("--floor", "include_floor", is_flag=True,
              help="Also draw a panel for floor estimators (constant predictions).")
def plot(record: Path, out: Path, formats: str, include_floor: bool) -> None:
    """Draw the figures of RECORD into DIR: cumulative error curves with the oracle (run records),
    seconds per image as log-scale bars (speed records), purifier fit objectives (where recorded).

    The x range of the curves is set by the data; floor estimators get no panel unless --floor.

    \b
    Examples:
      gazebench plot results/cpu/table2.json --out plots/
      gazebench plot results/cpu/speed.json --out plots/ --format svg
    """
    from gazebench.checks import CheckError, check_output_dir

    fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps")]
    if not fmts or bad:
        raise click.BadParameter(f"{formats!r}: expected formats among png, svg, pdf, jpg, eps, ps",
                                 param_hint="--format")
    try:
        rec = read_record(record, command="plot")
        check_output_dir(out, "--out")
    except (FileNotFoundError, ValueError, CheckError) as exc:
        raise click.ClickException(str(exc)) from None
    from gazebench.figures import plot_record

    made = plot_record(rec, out, include_floor=include_floor, formats=fmts)
    if not made:
        raise click.ClickException(f"{record}: nothing to plot (no curves, timings or fit objectives in it)")
    for path in made:
        click.echo(str(path))
