"""``gazebench report``: render a record as Markdown, CSV or LaTeX."""

from __future__ import annotations

from pathlib import Path

import click

from gazebench.results import FORMATS, load_record


@click.command("report")
@click.argument("record", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="md", show_default=True,
              help="md: a Markdown table; csv: full-precision values; latex: a booktabs table.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Write to this file (atomically) instead of standard output.")
def report(record: Path, fmt: str, out: Path | None) -> None:
    """Render the result record RECORD (JSON from `gazebench run`) as a table.

    \b
    Examples:
      gazebench report results/runs/run-20261124T070000+0000.json
      gazebench report run.json --format latex --out table2.tex
      gazebench report run.json --format csv > table2.csv
    """
    try:
        rec = load_record(record)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    text = FORMATS[fmt](rec)
    if out is None:
        click.echo(text, nl=False)
    else:
        from gazebench.io import write_text_atomic

        write_text_atomic(out, text)
        click.echo(f"wrote {out}", err=True)
