"""``gazebench plugins``: every registered component and every broken plugin."""

from __future__ import annotations

import json

import click

from gazebench.plugins import KINDS, PluginError, get_plugin_manager


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per component).")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind of component.")
@click.option("--wide", is_flag=True, help="Every column (plugin distribution and version) and whole summaries.")
def plugins(as_json: bool, kind: str | None, wide: bool) -> None:
    """List datasets, segmenters, purifiers and estimators, with the plugin that provides each.

    A plugin that failed to import is listed as broken, with its error. A name two plugins
    registered is listed once per plugin, marked CONFLICT with the way out; only using it fails.
    One line per component (summaries cut to the screen) unless --wide.

    \b
    Examples:
      gazebench plugins
      gazebench plugins --kind estimator --wide
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
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if wide:
        table = Table(title="gazebench plugins", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        for col in ("kind", "name", "plugin", "distribution"):
            table.add_column(col, no_wrap=True)
        table.add_column("summary", overflow="fold")
        for r in rows:
            table.add_row(escape(r["kind"]), escape(r["name"]), escape(r["plugin"]), escape(dist_of(r)),
                          _label(r) + escape(r["summary"] or ""))
        console.print(table)
    else:  # one line per component, names whole, the summary cut to what they leave of the screen
        cols = ("kind", "name", "plugin")
        widths = [max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols]
        room = max(10, console.width - sum(widths) - 2 * len(cols) - 1)
        head = "  ".join(c.ljust(w) for c, w in zip(cols, widths)) + "  summary"
        console.print(f"[bold]{escape(head)}[/bold]", highlight=False)
        for r in rows:
            names = "  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths))
            tag = "BROKEN: " if r["broken"] else "CONFLICT: " if r["conflict"] else ""
            text = r["summary"] or ""
            if len(tag) + len(text) > room:
                text = text[:max(0, room - len(tag) - 1)].rstrip() + "…"
            console.print(f"{escape(names)}  {_label(r)}{escape(text)}", highlight=False, soft_wrap=True)
    if not wide:  # a broken plugin's error is the one thing a cut line must not hide
        for r in rows:
            if r["broken"]:
                console.print(f"[red]broken[/red]: plugin {escape(r['name'])!r} ({escape(dist_of(r))}): "
                              f"{escape(r['summary'] or '')}", highlight=False)
    for message in dict.fromkeys(r["conflict"] for r in rows if r["conflict"]):
        console.print(f"[yellow]conflict[/yellow]: {escape(message)}", highlight=False)


def _label(row: dict) -> str:
    """Rich markup flagging a broken or conflicting row."""
    return "[red]BROKEN[/red]: " if row["broken"] else "[yellow]CONFLICT[/yellow]: " if row["conflict"] else ""


def dist_of(row: dict) -> str:
    """``distribution version`` of a listing row, or ``(in process)``."""
    return f"{row['distribution']} {row['version'] or ''}".strip() if row["distribution"] else "(in process)"
