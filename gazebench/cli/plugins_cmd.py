"""``gazebench plugins``: every registered component and every broken plugin."""

from __future__ import annotations

import json

import click

from gazebench.plugins import KINDS, PluginError, get_plugin_manager


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per component).")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind of component.")
def plugins(as_json: bool, kind: str | None) -> None:
    """List datasets, segmenters, purifiers and estimators, with the plugin that provides each.

    A plugin that failed to import is listed as broken, with its error. A name two plugins
    registered is listed once per plugin, marked CONFLICT with the way out; only using it fails.

    \b
    Examples:
      gazebench plugins
      gazebench plugins --kind estimator
      gazebench plugins --json | python -m json.tool
      GAZEBENCH_LOAD_PLUGINS=basic gazebench plugins   # load only the plugin named basic
    """
    try:
        rows = get_plugin_manager().listing()
    except PluginError as exc:  # strict mode only: a plugin that breaks while registering
        raise click.ClickException(str(exc)) from None
    if kind:
        rows = [r for r in rows if r["kind"] in (kind, "plugin")]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="gazebench plugins", show_lines=False)
    for col in ("kind", "name", "plugin", "distribution", "summary"):
        table.add_column(col, overflow="fold")
    for r in rows:
        dist = f"{r['distribution']} {r['version'] or ''}".strip() if r["distribution"] else "(in process)"
        summary = escape(r["summary"] or "")  # error text may hold [brackets]
        if r["broken"]:
            summary = f"[red]BROKEN[/red]: {summary}"
        elif r["conflict"]:
            summary = f"[yellow]CONFLICT[/yellow]: {summary}"
        table.add_row(escape(r["kind"]), escape(r["name"]), escape(r["plugin"]), escape(dist), summary)
    console = Console()
    console.print(table)
    for message in dict.fromkeys(r["conflict"] for r in rows if r["conflict"]):
        console.print(f"[yellow]conflict[/yellow]: {escape(message)}", highlight=False)
