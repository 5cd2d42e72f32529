"""``gazebench compare``: two run records side by side, row by row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gazebench.cli.report_cmd import read_record
from gazebench.results import RUN_KEY as _KEY
from gazebench.results import RUN_VALUES as _VALUES
from gazebench.results import RUN_SCHEMAS


def _key(record: dict[str, Any], row: dict[str, Any]) -> tuple:
    # a gazebench.run/1 row has no seed: it is the record's one seed
    return tuple(row.get(k, record.get("seed")) if k == "seed" else row.get(k) for k in _KEY)


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows matched on estimator/train/test/purifier/seed, with A, B and B - A for each mean, and
    where both records keep per-sample errors, a paired test of B vs A on the samples they share
    (``shared``: n, ``purified_diff_ci``, ``p_value``)."""
    from gazebench.results import read_samples

    samples_a, samples_b = read_samples(a), read_samples(b)
    index_b = {_key(b, r): r for r in b["rows"]}
    seen = set()
    out = []
    for ra in a["rows"]:
        key = _key(a, ra)
        seen.add(key)
        rb = index_b.get(key)
        row: dict[str, Any] = dict(zip(_KEY, key))
        for v in _VALUES:
            va, vb = ra.get(v), (rb or {}).get(v)
            row[v] = (va, vb, vb - va if va is not None and vb is not None else None)
        row["shared"] = _shared_test(ra, rb, samples_a, samples_b) if rb is not None else None
        out.append(row)
    for key, rb in index_b.items():
        if key not in seen:
            out.append({**dict(zip(_KEY, key)), **{v: (None, rb.get(v), None) for v in _VALUES}, "shared": None})
    return out


def _shared_test(ra: dict[str, Any], rb: dict[str, Any], sa: dict[str, Any] | None,
                 sb: dict[str, Any] | None) -> dict[str, Any] | None:
    """B's purified errors against A's on the test samples both rows scored (matched by sample id)."""
    import numpy as np

    from gazebench.stats import diff_ci, paired_test

    if not sa or not sb or "samples_index" not in ra or "samples_index" not in rb:
        return None
    ia, ib = ra["samples_index"], rb["samples_index"]
    ids_a, ids_b = sa.get(f"r{ia}_ids"), sb.get(f"r{ib}_ids")
    if ids_a is None or ids_b is None:
        return None
    common, pos_a, pos_b = np.intersect1d(ids_a, ids_b, return_indices=True)
    if len(common) < 2:
        return {"n": int(len(common)), "purified_diff_ci": None, "p_value": None}
    pa, pb = sa[f"r{ia}_purified"][pos_a], sb[f"r{ib}_purified"][pos_b]
    ci = diff_ci(pa, pb)  # mean(A - B): turned round below so that it reads B - A
    return {"n": int(len(common)), "purified_diff_ci": None if ci is None else [-ci[1], -ci[0]],
            "p_value": paired_test(pa, pb)}


def _mixed_versions(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """One line per generated dataset that A and B both used at different renderer versions."""
    from gazebench.results import data_versions

    va, vb = data_versions(a), data_versions(b)
    show = (lambda v: "unrecorded (older than versioning)" if v is None else repr(v))
    return [f"{k}: renderer version {show(va[k])} in A, {show(vb[k])} in B: different data under one name, "
            "so the rows are not comparable" for k in sorted(va.keys() & vb.keys()) if va[k] != vb[k]]


@click.command("compare")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--wide", is_flag=True, help="Every column (train, test, oracle, gap closed, intervals), unfitted.")
@click.option("--json", "as_json", is_flag=True, help="Print the matched rows as JSON: [A, B, B - A] per value.")
def compare(a: Path, b: Path, wide: bool, as_json: bool) -> None:
    """Show the differences between two `gazebench run` records A and B, per row (B - A).

    Rows are matched on estimator, train, test, purifier and seed; a row in only one record is
    shown with '-' on the other side. Where both records keep per-sample errors (gazebench.run/2),
    p is a paired Wilcoxon test of B's purified errors against A's on the test samples both scored.
    The table fits the screen ($COLUMNS); numbers are never cut.

    \b
    Examples:
      gazebench compare results/cpu/table2.json results/runs/run-20261124T090000+0000.json
      gazebench compare A.json B.json --wide
    """
    try:
        ra, rb = (read_record(p, RUN_SCHEMAS, command="compare") for p in (a, b))
        ra["path"], rb["path"] = str(a), str(b)  # where their per-sample sidecars are found
        rows = compare_rows(ra, rb)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    mixed = _mixed_versions(ra, rb)
    if as_json:
        import json

        click.echo(json.dumps({"a": str(a), "b": str(b), "rows": rows, "mixed_data_versions": mixed}, indent=2))
        return
    for line in mixed:
        click.echo(f"warning: {line}", err=True)
    from gazebench.cli.screen import echo_layouts
    from gazebench.layouts import compare_layout

    echo_layouts([compare_layout(rows, f"A = {a.name}, B = {b.name}", wide=wide)], wide=wide)
    for label, rec in (("A", ra), ("B", rb)):
        env = rec.get("environment", {})
        click.echo(f"{label}: {rec.get('command') or '-'} [seed {rec.get('seed')}, {env.get('device')}, "
                   f"gazebench {env.get('gazebench')}, commit {str(env.get('git_commit'))[:10]}]")
