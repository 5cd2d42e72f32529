"""``gazebench report``: render a record as Markdown, CSV or LaTeX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gazebench.results import FORMATS, KNOWN_SCHEMAS, load_record

#: the row fields the tables and comparisons read, by schema family
ROW_FIELDS: dict[str, tuple[str, ...]] = {"gazebench.run/": ("estimator", "purifier"),
                                          "gazebench.speed/": ("purifier", "resolution")}


def read_record(path: str | Path, schemas: tuple[str, ...] = KNOWN_SCHEMAS, *,
                command: str = "gazebench") -> dict[str, Any]:
    """A record that ``report``/``compare`` can render, or a one-line ``ValueError`` naming the
    file and what is wrong: another schema, no ``rows`` list, a row that is not an object or
    lacks a field the tables read, a non-object ``config``/``environment``."""
    rec = load_record(path)  # missing file, bad JSON, unknown schema
    schema = rec["schema"]
    if schema not in schemas:
        raise ValueError(f"{path} is a {schema} record; {command} reads {', '.join(schemas)} records")
    rows = rec.get("rows")
    if not isinstance(rows, list):
        found = "no 'rows'" if "rows" not in rec else f"'rows' of type {type(rows).__name__}"
        raise ValueError(f"record {path} has {found}, so it is not a complete {schema} record (an "
                         "interrupted run, or a file of another kind): write it again with the command "
                         "that made it")
    fields = next((f for prefix, f in ROW_FIELDS.items() if schema.startswith(prefix)), ())
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"record {path}: rows[{i}] is not an object ({type(row).__name__}); "
                             f"a {schema} row is an object with {', '.join(fields)}, ...")
        missing = [k for k in fields if k not in row]
        if schema.startswith("gazebench.speed/") and "seconds_per_image" not in row and not row.get("error"):
            missing.append("seconds_per_image")
        if missing:
            raise ValueError(f"record {path}: rows[{i}] lacks {', '.join(missing)}; "
                             f"it is not a {schema} row")
    for key in ("config", "environment"):
        if key in rec and not isinstance(rec[key], dict):
            raise ValueError(f"record {path}: '{key}' is not an object ({type(rec[key]).__name__})")
    if "notes" in rec and not isinstance(rec["notes"], list):
        raise ValueError(f"record {path}: 'notes' is not a list ({type(rec['notes']).__name__})")
    return rec


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
        rec = read_record(record, command="report")
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    text = FORMATS[fmt](rec)
    if out is None:
        click.echo(text, nl=False)
    else:
        from gazebench.io import write_text_atomic

        write_text_atomic(out, text)
        click.echo(f"wrote {out}", err=True)
