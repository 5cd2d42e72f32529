"""Figures drawn after the fact from a record alone: cumulative error curves (with the oracle),
Table 1 as log-scale bars, and the objective curves of purifier fits.

Used by ``gazebench plot`` (PNG and SVG files) and by the HTML report (inline images). Every
function returns a matplotlib ``Figure`` (Agg backend, no screen needed), or ``None`` when the
record holds nothing to draw; which estimator is the floor and which purifier is the no-op comes
from the record (:mod:`gazebench.layouts`).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Sequence

from gazebench.io import atomic_path
from gazebench.layouts import floor_estimators, noop_purifiers


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _x_limit(curves: Sequence[Sequence[Sequence[float]]]) -> float:
    """The x range the data needs: the first threshold by which every curve has reached 1 (plus one
    step), else the last threshold recorded."""
    last = max(c[-1][0] for c in curves)
    done = []
    for c in curves:
        t = next((x for x, y in c if y >= 1.0), None)
        if t is None:
            return last
        done.append(t)
    step = curves[0][1][0] - curves[0][0][0] if len(curves[0]) > 1 else 1.0
    return min(last, max(done) + step)


def cumulative_figure(record: dict[str, Any], *, include_floor: bool = False) -> Any | None:
    """One panel per estimator and training set: the fraction of test images under each error,
    raw (black), each purifier, and the oracle (dashed; the oracle's mean as a dotted line where the
    record has no oracle curve). The floor estimator gets a panel only with ``include_floor``."""
    rows = [r for r in record.get("rows") or [] if isinstance(r, dict) and r.get("raw_curve")]
    floors, noop = floor_estimators(record), noop_purifiers(record)
    if not include_floor:
        rows = [r for r in rows if r.get("estimator") not in floors]
    if not rows:
        return None
    if len({r.get("seed") for r in rows}) > 1:  # several seeds: one panel per seed would drown the page
        first = rows[0].get("seed")
        rows = [r for r in rows if r.get("seed") == first]
    groups = list(dict.fromkeys((r.get("estimator"), r.get("train")) for r in rows))
    # the oracle curve: in the row where a record puts it there, else in the estimator's stats
    oracle = {(s.get("estimator"), s.get("train"), s.get("seed")): s.get("oracle_curve")
              for s in record.get("estimators") or [] if isinstance(s, dict) and s.get("oracle_curve")}
    plt = _pyplot()
    ncols = min(4, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 3.3 * nrows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    for ax, (est, train) in zip(axes.flat, groups):
        mine = [r for r in rows if (r.get("estimator"), r.get("train")) == (est, train)]
        first = mine[0]
        curves = [first["raw_curve"]]
        ax.plot(*zip(*first["raw_curve"]), color="black", lw=2, label=f"raw ({first['raw_mean_deg']:.1f}°)")
        for r in mine:
            if r.get("purifier") in noop or not r.get("purified_curve"):
                continue
            curves.append(r["purified_curve"])
            ax.plot(*zip(*r["purified_curve"]), lw=1.5, label=f"{r['purifier']} ({r['purified_mean_deg']:.1f}°)")
        oracle_curve = first.get("oracle_curve") or oracle.get((est, train, first.get("seed"))) \
            or oracle.get((est, train, None))
        if oracle_curve and first.get("oracle_mean_deg") is not None:
            curves.append(oracle_curve)
            ax.plot(*zip(*oracle_curve), color="gray", ls="--", lw=1.5,
                    label=f"oracle ({first['oracle_mean_deg']:.1f}°)")
        elif first.get("oracle_mean_deg") is not None:
            ax.axvline(first["oracle_mean_deg"], color="gray", ls=":", lw=1.2,
                       label=f"oracle mean {first['oracle_mean_deg']:.1f}°")
        ax.set_xlim(0, _x_limit(curves))
        ax.set_title(f"{est}{' (floor)' if est in floors else ''} (train {train}, test {first.get('test')})",
                     fontsize=9)
        ax.set_xlabel("angular error (deg)")
        ax.set_ylabel("fraction of test images")
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def speed_figure(record: dict[str, Any]) -> Any | None:
    """Table 1 as grouped bars: seconds per image (log scale) per method at each resolution, each
    bar labelled with its speed-up against the first baseline in the record."""
    rows = [r for r in record.get("rows") or [] if isinstance(r, dict) and r.get("seconds_per_image")]
    if not rows:
        return None
    plt = _pyplot()
    sizes = sorted({r["resolution"] for r in rows})
    from gazebench.layouts import speed_method

    names = list(dict.fromkeys(speed_method(r) for r in rows))
    base = next((k[len("speedup_vs_"):] for r in rows for k in r if k.startswith("speedup_vs_")), None)
    cell = {(speed_method(r), r["resolution"]): r for r in rows}
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(sizes) * max(1, len(names)) / 2, 4.2))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(sizes))]
        ys = [(cell.get((n, px)) or {}).get("seconds_per_image") for px in sizes]
        proj = any((cell.get((n, px)) or {}).get("projected") for px in sizes)
        bars = ax.bar([x for x, y in zip(xs, ys) if y], [y for y in ys if y], width,
                      label=n + (" (projected)" if proj else ""), hatch="//" if proj else None)
        if base and not any(r.get("purifier") == base and r.get("primary", True) and speed_method(r) == n
                            for r in rows):
            for b, px in zip(bars, [px for px, y in zip(sizes, ys) if y]):
                s = cell[(n, px)].get(f"speedup_vs_{base}")
                if s:
                    ax.annotate(f"{s:.3g}x" if s < 1000 else f"{s:,.0f}x", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                                va="bottom", fontsize=6, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(range(len(sizes)), [f"{px}x{px}" for px in sizes])
    ax.set_ylabel("seconds per image (log)")
    ax.set_title("seconds per image" + (f"; labels: speed-up vs {base}" if base else ""), fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the tallest bars stay visible
    fig.tight_layout()
    return fig


def objective_curves(record: dict[str, Any]) -> dict[str, tuple[list[float], list[float]]]:
    """``{purifier (style): (iterations, objective)}`` for each purifier fit that recorded one
    (``objective_curve`` in its stats: ``[iteration, value]`` pairs, or plain values per iteration)."""
    out = {}
    for s in record.get("purifiers") or []:
        curve = s.get("objective_curve") if isinstance(s, dict) else None
        if not isinstance(curve, list) or len(curve) < 2:
            continue
        pairs = [(float(c[0]), float(c[1])) if isinstance(c, (list, tuple)) else (float(i + 1), float(c))
                 for i, c in enumerate(curve)]
        label = f"{s.get('purifier')}" + (f" (style {s['style']})" if s.get("style") else "")
        out[label] = ([x for x, _ in pairs], [y for _, y in pairs])
    return out


def objective_figure(record: dict[str, Any]) -> Any | None:
    """The objective of each recorded purifier fit against the iteration (log scale)."""
    curves = objective_curves(record)
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, (xs, ys) in curves.items():
        ax.plot(xs, ys, lw=1.2, label=label)
    if all(y > 0 for _, ys in curves.values() for y in ys):  # a log axis only where it can hold the values
        ax.set_yscale("log")
    ax.set_xlabel("fit iteration")
    ax.set_ylabel("objective (log)")
    ax.set_title("purifier fits: objective per iteration", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def save(fig: Any, stem: str | Path, formats: Sequence[str] = ("png", "svg"), dpi: int = 120) -> list[Path]:
    """Write ``fig`` as ``stem.<format>`` for each format (atomically); close it; return the paths."""
    plt = _pyplot()
    paths = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
        paths.append(path)
    plt.close(fig)
    return paths


def data_uri(fig: Any, fmt: str = "svg", dpi: int = 110) -> str:
    """``fig`` as a ``data:`` URI (base64), for a page that needs no other file; closes it."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    plt.close(fig)
    mime = "image/svg+xml" if fmt == "svg" else f"image/{fmt}"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def plot_record(record: dict[str, Any], folder: str | Path, *, include_floor: bool = False,
                formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Every figure the record can give, as files in ``folder``: ``cumulative_error``, ``speed``,
    ``objective`` (each in every format). An empty list when it holds nothing to draw."""
    folder = Path(folder)
    made = []
    for stem, fig in (("cumulative_error", cumulative_figure(record, include_floor=include_floor)),
                      ("speed", speed_figure(record)), ("objective", objective_figure(record))):
        if fig is not None:
            made += save(fig, folder / stem, formats)
    return made
