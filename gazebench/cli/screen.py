"""Tables on a terminal: plain aligned text that fits the screen and never cuts a number.

A table wider than the screen first loses its intervals (``9.89 [9.2, 10.6]`` -> ``9.89``, with a
note), then is split into several tables of fewer number columns, each repeating the name
columns. Names may be cut (with ``…``); numbers never are. ``wide`` prints everything as it is.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from dataclasses import replace
from typing import Sequence

import click

from gazebench.layouts import Cell, Layout

GAP = 2  # spaces between columns
NAME_MIN = 12  # a name column is cut (with …) to no fewer characters before a table is split


def screen_width() -> int:
    """``$COLUMNS``, else the terminal's width, else 80."""
    try:
        return max(40, int(os.environ["COLUMNS"]))
    except (KeyError, ValueError):
        return max(40, shutil.get_terminal_size((80, 24)).columns)


def _widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + GAP * (len(widths) - 1)


def _without_intervals(lay: Layout) -> Layout:
    rows = [[replace(c, ci=None) if isinstance(c, Cell) else c for c in r] for r in lay.rows]
    notes = [n for n in lay.notes if "interval" not in n] + ["intervals: see --wide, --json or `gazebench report`"]
    return replace(lay, rows=rows, notes=notes)


def _cut_names(lay: Layout, w: list[int]) -> list[int]:
    """Column widths with the name columns cut to ``NAME_MIN`` characters (never below their header)."""
    return [min(x, max(NAME_MIN, len(lay.headers[i]))) if i < lay.n_names else x for i, x in enumerate(w)]


def _chunks(lay: Layout, width: int) -> list[Layout]:
    """Split the number columns into tables that each fit ``width`` (at least one number each)."""
    texts = lay.texts()
    w = _cut_names(lay, _widths(lay.headers, texts))
    names = list(range(lay.n_names))
    base = _total([w[i] for i in names])
    out, cur = [], []
    for i in range(lay.n_names, len(lay.headers)):
        if cur and base + sum(w[j] + GAP for j in cur) + w[i] + GAP > width:
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    tables = []
    for k, cols in enumerate(out):
        keep = names + cols
        title = lay.title + (f" ({k + 1}/{len(out)})" if len(out) > 1 else "")
        tables.append(replace(lay, title=title, headers=[lay.headers[i] for i in keep],
                              rows=[[r[i] for i in keep] for r in lay.rows],
                              notes=lay.notes if k == len(out) - 1 else []))
    return tables


def fit(lay: Layout, width: int) -> list[Layout]:
    """``lay`` as one or more tables no wider than ``width`` (numbers whole)."""
    if _total(_widths(lay.headers, lay.texts())) <= width:
        return [lay]
    if any(c.ci for r in lay.rows for c in r if isinstance(c, Cell)):
        lay = _without_intervals(lay)
        if _total(_widths(lay.headers, lay.texts())) <= width:
            return [lay]
    if _total(_cut_names(lay, _widths(lay.headers, lay.texts()))) <= width:  # render cuts the names
        return [lay]
    return _chunks(lay, width)


def render(lay: Layout, width: int | None = None) -> str:
    """One table as text: title, header, rule, rows, notes wrapped to ``width`` (None: no limit).
    Name columns are cut with ``…`` only when the numbers alone would not fit."""
    texts = lay.texts()
    w = _widths(lay.headers, texts)
    if width is not None and _total(w) > width:
        over = _total(w) - width
        for i in sorted(range(lay.n_names), key=lambda i: -w[i]):  # the widest name column first
            cut = min(over, max(0, w[i] - max(4, len(lay.headers[i]))))
            w[i] -= cut
            over -= cut

    def cell(text: str, i: int) -> str:
        if len(text) > w[i]:
            text = text[:w[i] - 1] + "…"
        return text.ljust(w[i]) if i < lay.n_names else text.rjust(w[i])

    sep = " " * GAP
    lines = [*(textwrap.wrap(lay.title, width, subsequent_indent="  ") if width else [lay.title]), sep.join(cell(h, i) for i, h in enumerate(lay.headers)).rstrip(),
             sep.join("-" * x for x in w)]
    lines += [sep.join(cell(t, i) for i, t in enumerate(r)).rstrip() for r in texts]
    for note in lay.notes:
        lines += textwrap.wrap(note, width or 10**6, subsequent_indent="  ") or [""]
    return "\n".join(lines)


def echo_layouts(layouts: Sequence[Layout], *, wide: bool = False, err: bool = False) -> None:
    """Print ``layouts`` fitted to the screen (``wide``: as they are), a blank line between them."""
    width = None if wide else screen_width()
    parts = []
    for lay in layouts:
        for piece in ([lay] if wide else fit(lay, width)):
            parts.append(render(piece, width))
    click.echo("\n\n".join(parts), err=err)


def echo_caption(text: str, *, wide: bool = False, err: bool = False) -> None:
    """A record's caption (what was measured, where), wrapped to the screen."""
    width = None if wide else screen_width()
    click.echo("\n".join(textwrap.wrap(text, width, subsequent_indent="  ")) if width else text, err=err)
