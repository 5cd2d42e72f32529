"""``gazebench report --format html``: one self-contained page for one or more records.

Nothing on the page is fetched: figures are inline ``data:`` URIs (SVG charts, the run's PNG
sample grid where its file is found), the style sheet is inline, and there is no script at all.
Each record gets a section (Table 2 or Table 1 in the paper's layout, figures, notes, the command
that made it, its environment); with several records a comparison table comes first.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Sequence

from gazebench import figures
from gazebench.layouts import Layout, comparison, is_run, is_speed, layouts

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1200px;
 color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.3em 0;font-size:.9em}
th,td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;white-space:nowrap}
th{border-bottom:2px solid #888;text-align:left}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#f6f8fa}td.sig{font-weight:600}
p.note{font-size:.82em;color:#555;margin:.15em 0}
pre{background:#f4f4f4;padding:.6em;overflow-x:auto;font-size:.85em;white-space:pre-wrap}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figure.grid img{max-width:640px}figcaption{font-size:.82em;color:#555}
dl.env{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;font-size:.85em}
dl.env dt{color:#555}dl.env dd{margin:0}
nav a{margin-right:1em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def table_html(lay: Layout) -> str:
    """A layout as an HTML table, its title above and its notes below."""
    head = "".join(f'<th class="{"" if i < lay.n_names else "num"}">{_e(h)}</th>'
                   for i, h in enumerate(lay.headers))
    body = []
    for row in lay.rows:
        cells = []
        for i, c in enumerate(row):
            cls = ("" if i < lay.n_names else "num") + (" sig" if c.mark else "")
            title = f' title="{_e(c.value)}"' if isinstance(c.value, float) else ""
            cells.append(f'<td class="{cls.strip()}"{title}>{_e(c.text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in lay.notes)
    return (f'<h3>{_e(lay.title)}</h3><table class="{_e(lay.key)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>{notes}")


def _figure(uri: str, alt: str, caption: str, cls: str = "") -> str:
    return f'<figure class="{cls}"><img src="{uri}" alt="{_e(alt)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _find_file(name: str, record_path: Path | None) -> Path | None:
    """A file the record names (relative to where its command ran), looked for as given, then beside
    the record, then in the record's plots folder."""
    p = Path(name)
    candidates = [p]
    if record_path is not None and not p.is_absolute():
        here = record_path.parent
        candidates += [here / p, here / p.name, here / Path(record_path.stem) / p.name]
    return next((c for c in candidates if c.is_file()), None)


def _sample_grid(record: dict[str, Any], record_path: Path | None) -> str:
    for name in record.get("plots") or []:
        if not isinstance(name, str) or not name.endswith(".png") or "sample" not in Path(name).stem:
            continue
        found = _find_file(name, record_path)
        if found is None:
            return f'<p class="note">sample grid {_e(name)} was not found next to the record</p>'
        data = base64.b64encode(found.read_bytes()).decode("ascii")
        return _figure(f"data:image/png;base64,{data}", "sample grid",
                       "test eyes: raw | each purifier | oracle (paired clean render)", "grid")
    return ""


_ENV_KEYS = ("device", "device_name", "cpu_model", "cpu_capability", "cpu_count", "torch_threads", "cuda", "python", "platform", "torch",
             "torchvision", "timm", "kornia", "scikit_learn", "numpy", "pluggy", "gazebench", "git_commit")


def environment_html(record: dict[str, Any]) -> str:
    """The command, times, seed and environment of a record."""
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    items = [("schema", record.get("schema")), ("started", record.get("started")), ("ended", record.get("ended")),
             ("seed", record.get("seed"))]
    items += [(k, env.get(k)) for k in _ENV_KEYS if env.get(k) is not None]
    plugins = [p for p in env.get("plugins") or [] if isinstance(p, dict)]
    if plugins:
        items.append(("plugins", ", ".join(f"{p.get('name')} ({p.get('distribution') or 'in process'}"
                                            f"{' ' + str(p['version']) if p.get('version') else ''})"
                                            + (" BROKEN" if p.get("broken") else "") for p in plugins)))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items if v is not None)
    cmd = record.get("command") or (record.get("config") or {}).get("command") or "-"
    return f'<h3>command</h3><pre class="command">{_e(cmd)}</pre><h3>environment</h3><dl class="env">{dl}</dl>'


def record_section(name: str, record: dict[str, Any], record_path: Path | None, anchor: str) -> str:
    """One record: its paper-layout tables, figures, notes, command and environment."""
    kind = "Table 2: angular error raw vs purified" if is_run(record) else \
        "Table 1: seconds per image" if is_speed(record) else str(record.get("schema"))
    parts = [f'<section id="{anchor}"><h2>{_e(kind)} <small>({_e(name)})</small></h2>']
    parts += [table_html(t) for t in layouts(record)]
    if is_run(record):
        fig = figures.cumulative_figure(record)
        if fig is not None:
            has_curve = any(isinstance(x, dict) and x.get("oracle_curve")
                            for x in [*(record.get("rows") or []), *(record.get("estimators") or [])])
            parts.append("<h3>cumulative error</h3>" + _figure(
                figures.data_uri(fig), "cumulative error curves",
                "fraction of test images with an angular error at most x (the paper's Fig. 7); oracle "
                + ("dashed" if has_curve else "mean dotted (this record has no oracle curve)")
                + "; floor estimators have no panel"))
        grid = _sample_grid(record, record_path)
        if grid:
            parts.append("<h3>samples</h3>" + grid)
        fig = figures.objective_figure(record)
        if fig is not None:
            parts.append("<h3>purifier fits</h3>" + _figure(figures.data_uri(fig), "objective curves",
                                                           "the fit objective per iteration, log scale"))
    if is_speed(record):
        fig = figures.speed_figure(record)
        if fig is not None:
            parts.append("<h3>seconds per image</h3>" + _figure(figures.data_uri(fig), "speed bars",
                                                                "log scale; hatched: projected"))
    notes = [n for n in record.get("notes") or [] if isinstance(n, str)]
    if notes:
        parts.append("<h3>notes</h3><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    parts.append(environment_html(record))
    parts.append("</section>")
    return "\n".join(parts)


def render(records: Sequence[tuple[str, dict[str, Any]]], title: str = "gazebench report") -> str:
    """The whole page for ``(name, record)`` pairs (``name`` is usually the record's path)."""
    anchors = [f"r{i + 1}" for i in range(len(records))]
    nav = ""
    if len(records) > 1:
        nav = "<nav>" + "".join(f'<a href="#{a}">{_e(Path(n).name)}</a>' for a, (n, _) in zip(anchors, records)) + "</nav>"
    comp = "".join(table_html(t) for t in comparison(records))
    body = [f"<h1>{_e(title)}</h1>", nav]
    if comp:
        body.append(f'<section id="comparison"><h2>comparison</h2>{comp}</section>')
    for a, (n, rec) in zip(anchors, records):
        body.append(record_section(n, rec, Path(n) if n else None, a))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            f"style-src 'unsafe-inline'\"><title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(b for b in body if b) + "\n</body></html>\n")
