"""``gazebench compare``: two run records side by side, row by row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gazebench.cli.report_cmd import read_record
from gazebench.results import RUN_KEY as _KEY
from gazebench.results import RUN_VALUES as _VALUES
from gazebench.results import SCHEMA_RUN


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
def compare(a: Path, b: Path) -> None:
    """Show the differences between two `gazebench run` records A and B, per row (B - A).

    Rows are matched on estimator, train, test and purifier; a row in only one record is shown
    with '-' on the other side.

    \b
    Examples:
      gazebench compare results/cpu/table2.json results/runs/run-20261124T090000+0000.json
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    try:
        ra, rb = (read_record(p, (SCHEMA_RUN,), command="compare") for p in (a, b))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None

    def fmt(x: Any, signed: bool = False) -> str:
        return "-" if x is None else (f"{x:+.2f}" if signed else f"{x:.2f}")

    t = Table(title=f"A = {a.name}, B = {b.name} (degrees; B - A)", box=box.SIMPLE_HEAD, pad_edge=False)
    for h in ("estimator", "purifier", "test", "raw A", "raw B", "d raw", "pur. A", "pur. B", "d pur."):
        names = ("estimator", "purifier", "test")
        t.add_column(h, justify="left" if h in names else "right", no_wrap=h in names)
    for r in compare_rows(ra, rb):
        raw, pur = r["raw_mean_deg"], r["purified_mean_deg"]
        t.add_row(str(r["estimator"]), str(r["purifier"]), str(r["test"]), fmt(raw[0]), fmt(raw[1]),
                  fmt(raw[2], True), fmt(pur[0]), fmt(pur[1]), fmt(pur[2], True))
    Console().print(t)
    for label, rec in (("A", ra), ("B", rb)):
        env = rec.get("environment", {})
        click.echo(f"{label}: {rec.get('command') or '-'} [seed {rec.get('seed')}, {env.get('device')}, "
                   f"gazebench {env.get('gazebench')}, commit {str(env.get('git_commit'))[:10]}]")
