"""``gazebench report``: render records as the paper's tables (Markdown, CSV, LaTeX) or one HTML page."""

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


def select(tables: list[Any], keys: tuple[str, ...], name: str) -> list[Any]:
    """The layouts whose key is in ``keys`` (all when empty); a one-line error naming those there are."""
    if not keys:
        return tables
    chosen = [t for t in tables if t.key in keys]
    if not chosen:
        raise click.ClickException(f"{name} has no table {', '.join(keys)}; it has {', '.join(t.key for t in tables)}")
    return chosen


def render_records(recs: list[tuple[str, dict[str, Any]]], fmt: str, layout: str,
                   only: tuple[str, ...] = ()) -> str:
    """The text ``report`` writes for ``(name, record)`` pairs in format ``fmt`` and ``layout``
    (``paper``: Table 2 / Table 1 pivots, :mod:`gazebench.layouts`; ``long``: one line per row).
    ``only``: just the paper tables with these keys, without the records' captions."""
    from gazebench import layouts as lay
    from gazebench.results import caption

    if fmt == "html":
        from gazebench.htmlreport import render

        return render(recs)
    several = len(recs) > 1
    if layout == "long":
        if fmt == "csv" or not several:
            return "".join(FORMATS[fmt](r) for _, r in recs)
        sep = "% {}\n" if fmt == "latex" else "## {}\n\n"
        return "\n".join(sep.format(n) + FORMATS[fmt](r) for n, r in recs)
    if fmt == "csv":
        return lay.to_csv([select(lay.layouts(r), only, n)[0] for n, r in recs], [n for n, _ in recs] if several else ())
    render_one = lay.to_markdown if fmt == "md" else lay.to_latex
    parts = []
    for n, r in recs:
        text = render_one(select(lay.layouts(r), only, n), "" if only else caption(r))
        parts.append((f"## {n}\n\n" if fmt == "md" else f"% {n}\n") + text if several else text)
    comp = [] if only else lay.comparison(recs)
    if comp:
        parts.insert(0, ("## comparison\n\n" if fmt == "md" else "% comparison\n") + render_one(comp))
    return "\n".join(parts)


@click.command("report")
@click.argument("records", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="RECORD...")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex", "html"]), default="md", show_default=True,
              help="md: Markdown tables; csv: full-precision values; latex: booktabs tables; html: one "
                   "self-contained page (tables, curves, speed bars, sample grid, environment).")
@click.option("--layout", type=click.Choice(["paper", "long"]), default="paper", show_default=True,
              help="paper: the paper's tables (estimator x purifier; method x resolution); long: one line "
                   "per record row, every column.")
@click.option("--table", "only", multiple=True, metavar="KEY",
              help="Only this paper table (repeatable), without the record's caption: table2, improvement, gap, "
                   "pupil, summary (run records); table1, speedup_NAME, limit (speed records). For README tables.")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON (shown text and raw values).")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Write to this file (atomically) instead of standard output.")
def report(records: tuple[Path, ...], fmt: str, layout: str, only: tuple[str, ...], as_json: bool,
           out: Path | None) -> None:
    """Render the result records RECORD... (JSON from `gazebench run` / `gazebench speed`).

    Several records: one section each, and a comparison table per kind of record.

    \b
    Examples:
      gazebench report results/cpu/table2.json
      gazebench report results/cpu/table2.json results/cpu/speed.json --format html --out report.html
      gazebench report run.json --format latex --out table2.tex
      gazebench report run.json --format csv --layout long > rows.csv
      gazebench report results/cpu/table2.json --table table2     # README's Table 2
    """
    try:
        recs = [(str(p), read_record(p, command="report")) for p in records]
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        import json

        from gazebench import layouts as lay

        data = [{"record": n, "tables": [t.as_dict() for t in select(lay.layouts(r), only, n)]} if layout == "paper"
                else {"record": n, "rows": r["rows"]} for n, r in recs]
        text = json.dumps(data if len(data) > 1 else data[0], indent=2) + "\n"
    else:
        if only and (fmt == "html" or layout == "long"):
            raise click.UsageError("--table picks paper tables in md, csv, latex or --json")
        text = render_records(recs, fmt, layout, only)
    if out is None:
        click.echo(text, nl=False)
    else:
        from gazebench.checks import CheckError, check_output_file
        from gazebench.io import write_text_atomic

        try:
            check_output_file(str(out), "--out")
        except CheckError as exc:
            raise click.ClickException(str(exc)) from None
        write_text_atomic(out, text)
        click.echo(f"wrote {out}", err=True)
