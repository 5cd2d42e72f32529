"""``gazebench compare``: two run records side by side, row by row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gazebench.cli.report_cmd import read_record
from gazebench.results import RUN_KEY as _KEY
from gazebench.results import RUN_VALUES as _VALUES
from gazebench.results import KNOWN_SCHEMAS

#: every run-record version this gazebench reads (older records compare with newer ones)
RUN_SCHEMAS = tuple(s for s in KNOWN_SCHEMAS if s.startswith("gazebench.run/"))


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows matched on estimator/train/test/purifier, with A, B and B - A for each mean."""
    index_b = {tuple(r.get(k) for k in _KEY): r for r in b["rows"]}
    seen = set()
    out = []
    for ra in a["rows"]:
        key = tuple(ra.get(k) for k in _KEY)
        seen.add(key)
        rb = index_b.get(key)
        row: dict[str, Any] = dict(zip(_KEY, key))
        for v in _VALUES:
            va, vb = ra.get(v), (rb or {}).get(v)
            row[v] = (va, vb, vb - va if va is not None and vb is not None else None)
        out.append(row)
    for key, rb in index_b.items():
        if key not in seen:
            out.append({**dict(zip(_KEY, key)), **{v: (None, rb.get(v), None) for v in _VALUES}})
    return out


@click.command("compare")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--wide", is_flag=True, help="Every column (train, test, oracle, gap closed, intervals), unfitted.")
@click.option("--json", "as_json", is_flag=True, help="Print the matched rows as JSON: [A, B, B - A] per value.")
def compare(a: Path, b: Path, wide: bool, as_json: bool) -> None:
    """Show the differences between two `gazebench run` records A and B, per row (B - A).

    Rows are matched on estimator, train, test and purifier; a row in only one record is shown
    with '-' on the other side. The table fits the screen ($COLUMNS); numbers are never cut.

    \b
    Examples:
      gazebench compare results/cpu/table2.json results/runs/run-20261124T090000+0000.json
      gazebench compare A.json B.json --wide
    """
    try:
        ra, rb = (read_record(p, RUN_SCHEMAS, command="compare") for p in (a, b))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        import json

        click.echo(json.dumps({"a": str(a), "b": str(b), "rows": compare_rows(ra, rb)}, indent=2))
        return
    from gazebench.cli.screen import echo_layouts
    from gazebench.layouts import compare_layout

    echo_layouts([compare_layout(ra, rb, f"A = {a.name}, B = {b.name}", wide=wide)], wide=wide)
    for label, rec in (("A", ra), ("B", rb)):
        env = rec.get("environment", {})
        click.echo(f"{label}: {rec.get('command') or '-'} [seed {rec.get('seed')}, {env.get('device')}, "
                   f"gazebench {env.get('gazebench')}, commit {str(env.get('git_commit'))[:10]}]")
