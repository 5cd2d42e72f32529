"""``gazebench plugins``: every registered component and every broken plugin."""

from __future__ import annotations

import json

import click

from gazebench.plugins import KINDS, get_plugin_manager


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per component).")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind of component.")
def plugins(as_json: bool, kind: str | None) -> None:
    """List datasets, segmenters, purifiers and estimators, with the plugin that provides each.

    A plugin that failed to import is listed as broken, with its error.

    \b
    Examples:
      gazebench plugins
      gazebench plugins --kind estimator
      gazebench plugins --json | python -m json.tool
      GAZEBENCH_LOAD_PLUGINS=basic gazebench plugins   # load only the plugin named basic
    """
    rows = get_plugin_manager().listing()
    if kind:
        rows = [r for r in rows if r["kind"] in (kind, "plugin")]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gazebench plugins", show_lines=False)
    for col in ("kind", "name", "plugin", "distribution", "summary"):
        table.add_column(col, overflow="fold")
    for r in rows:
        dist = f"{r['distribution']} {r['version'] or ''}".strip() if r["distribution"] else "(in process)"
        summary = f"[red]BROKEN[/red]: {r['summary']}" if r["broken"] else r["summary"]
        table.add_row(r["kind"], r["name"], r["plugin"], dist, summary)
    Console().print(table)
