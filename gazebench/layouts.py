"""The paper's table layouts, built from any run or speed record, and their text renderings.

Table 2 (``gazebench.run/*``): estimator x purifier, mean angular error on raw, purified and
oracle test images; gap closed; raw - purified with its test; pupil metrics; the across-seed
summary. Table 1 (``gazebench.speed/*``): method x resolution, seconds per image, and speed-ups.

A layout is a list of :class:`Layout` tables whose cells keep the raw value next to the text, so
Markdown, CSV, LaTeX, the terminal and the HTML page all render the same numbers. Which purifier
is the no-op and which estimator is the floor comes from the record (``noop`` in the purifier
stats, ``floor`` in the estimator stats), never from a component's name.

Fields written by newer records (intervals ``*_ci``, ``diff_mean_deg``, ``p_value``, ``p_holm``,
``significant``, ``pupil_err_*_px``, ``seed``, a top-level ``summary``) are shown when present and
never required, so ``gazebench.run/1`` records render too.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from gazebench.stats import ALPHA

RUN_PREFIX = "gazebench.run/"
SPEED_PREFIX = "gazebench.speed/"
SIGNIFICANCE_NOTE = ("* raw vs purified differ significantly: Wilcoxon signed-rank test on the per-image "
                     f"errors, p Holm-corrected across the record's rows, below {ALPHA:g}")


def is_run(record: dict[str, Any]) -> bool:
    """A ``gazebench.run/*`` record (any version)."""
    return str(record.get("schema", "")).startswith(RUN_PREFIX)


def speed_method(row: dict[str, Any]) -> str:
    """A speed row's name: ``method`` (purifier, speed variant, setting), or for records written
    before variants and settings existed, the purifier."""
    return str(row.get("method") or row.get("purifier"))


def is_speed(record: dict[str, Any]) -> bool:
    """A ``gazebench.speed/*`` record (any version)."""
    return str(record.get("schema", "")).startswith(SPEED_PREFIX)


# -- cells and tables -------------------------------------------------------------------------

def num(value: Any, digits: int = 2) -> str:
    """A compact number: ``digits`` decimals from ``10**-digits`` up to 1000, else 4 significant
    figures; '-' for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != 0 and (abs(value) >= 1000 or abs(value) < 10 ** -digits):
        return f"{value:.4g}"
    return f"{value:.{digits}f}"


@dataclass
class Cell:
    """One table cell: the value (for CSV and charts), its interval and significance mark, and
    how it is shown."""

    value: Any = None
    ci: tuple[float, float] | None = None
    mark: str = ""
    digits: int = 2
    percent: bool = False
    signed: bool = False
    suffix: str = ""
    #: significant figures instead of decimals (seconds and speed-ups span decades)
    sig: bool = False
    #: shown instead of the formatted value (e.g. ``12.3 ± 0.4``), the value kept for CSV/JSON
    shown: str | None = None

    @property
    def text(self) -> str:
        """The cell as shown: ``9.89 [9.2, 10.6]*``; '-' when nothing was measured."""
        if self.shown is not None:
            return self.shown
        if isinstance(self.value, str):
            return self.value
        if self.value is None:
            return "-"
        if self.sig:
            v = float(self.value)
            figs = 3 if self.suffix == "x" else 4  # a ratio needs fewer figures than a time
            return (f"{v:.{figs}g}" if abs(v) < 10 ** figs else f"{v:,.0f}") + self.suffix
        v, ci = self.value, self.ci
        if self.percent:
            v, ci = v * 100, (None if ci is None else (ci[0] * 100, ci[1] * 100))
            body = f"{v:.{self.digits}f}%"
            body = "0%" if body.lstrip("-").strip("0.%") == "" else body  # no "-0%"
        else:
            body = f"{v:+.{self.digits}f}" if self.signed else num(v, self.digits)
        if ci is not None:  # one decimal fewer than the value: an interval's ends are rougher than its centre
            d = 0 if self.percent else max(self.digits - 1, 0)
            body += f" [{ci[0]:.{d}f}, {ci[1]:.{d}f}]"
        return body + self.suffix + self.mark


@dataclass
class Layout:
    """One table: a title, headers, rows of cells, notes printed under it."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    #: leading columns that are names (left-aligned); the rest are numbers
    n_names: int = 1

    def texts(self) -> list[list[str]]:
        """The cells as shown."""
        return [[c.text for c in r] for r in self.rows]

    def as_dict(self) -> dict[str, Any]:
        """JSON form: headers, and per row the shown text and raw values (for ``--json``)."""
        return {"key": self.key, "title": self.title, "headers": self.headers, "notes": self.notes,
                "rows": [[{"text": c.text, "value": c.value, "ci": list(c.ci) if c.ci else None,
                           "mark": c.mark or None} for c in r] for r in self.rows]}


def _ci(row: dict[str, Any], key: str) -> tuple[float, float] | None:
    ci = row.get(key)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(x, (int, float)) for x in ci):
        return float(ci[0]), float(ci[1])
    return None


# -- what the record says about components -----------------------------------------------------

def _rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in record.get("rows") or [] if isinstance(r, dict)]


def noop_purifiers(record: dict[str, Any]) -> set[str]:
    """Purifiers whose stats say they return their input (their column equals raw).

    Records written before purifier stats carried ``noop``: a purifier whose every row has the
    purified numbers and curve equal to the raw ones and moved no pupil.
    """
    stats = [s for s in record.get("purifiers") or [] if isinstance(s, dict)]
    if any("noop" in s for s in stats):
        return {s.get("purifier") for s in stats if s.get("noop")}
    rows = _rows(record)
    same: dict[str, bool] = {}
    for r in rows:
        eq = (r.get("purified_mean_deg") == r.get("raw_mean_deg") is not None
              and r.get("purified_curve") == r.get("raw_curve") and not r.get("pupil_shift_px"))
        same[r.get("purifier")] = same.get(r.get("purifier"), True) and eq
    return {p for p, ok in same.items() if ok}


def floor_estimators(record: dict[str, Any]) -> set[str]:
    """Estimators whose stats say they are a floor (a constant prediction any estimator must beat).

    Records written before estimator stats carried ``floor``: an estimator whose error is the same
    on raw, every purified and the oracle images, i.e. one that never looks at the image.
    """
    stats = [s for s in record.get("estimators") or [] if isinstance(s, dict)]
    if any("floor" in s for s in stats):
        return {s.get("estimator") for s in stats if s.get("floor")}
    out: dict[str, bool] = {}
    for r in _rows(record):
        vals = {r.get("raw_mean_deg"), r.get("purified_mean_deg"), r.get("oracle_mean_deg")}
        out[r.get("estimator")] = out.get(r.get("estimator"), True) and len(vals) == 1 and None not in vals
    return {e for e, ok in out.items() if ok}


def _purifier_order(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r.get("purifier") for r in rows))


def _seeds(rows: Sequence[dict[str, Any]]) -> list[Any]:
    return list(dict.fromkeys(r.get("seed") for r in rows if r.get("seed") is not None))


# -- Table 2 ----------------------------------------------------------------------------------

def _groups(rows: Sequence[dict[str, Any]], with_seed: bool) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r.get("estimator"), r.get("train")) + ((r.get("seed"),) if with_seed else ())
        out.setdefault(key, []).append(r)
    return out


def _name_cells(key: tuple, floors: set[str], several_trains: bool, with_seed: bool) -> list[Cell]:
    est = f"{key[0]} (floor)" if key[0] in floors else str(key[0])
    cells = [Cell(est)]
    if several_trains:
        cells.append(Cell(str(key[1])))
    if with_seed:
        cells.append(Cell(str(key[2])))
    return cells


def table2(record: dict[str, Any]) -> list[Layout]:
    """The run record in the paper's layout: error pivot, raw - purified, gap closed, pupil, seeds."""
    rows = [r for r in record.get("rows") or [] if isinstance(r, dict)]
    if not rows:
        return [Layout("table2", "mean angular error (deg)", ["estimator"], [], ["no rows"])]
    noop, floors = noop_purifiers(record), floor_estimators(record)
    purifiers = [p for p in _purifier_order(rows) if p not in noop]
    several_trains = len({r.get("train") for r in rows}) > 1
    with_seed = len(_seeds(rows)) > 1
    groups = _groups(rows, with_seed)
    names = ["estimator"] + (["train"] if several_trains else []) + (["seed"] if with_seed else [])
    has_oracle = any(r.get("oracle_mean_deg") is not None for r in rows)
    any_sig = any(r.get("significant") for r in rows)

    err_rows = []
    for key, mine in groups.items():
        first = mine[0]
        by_p = {r.get("purifier"): r for r in mine}
        line = _name_cells(key, floors, several_trains, with_seed)
        line.append(Cell(first.get("raw_mean_deg"), _ci(first, "raw_mean_ci")))
        for p in purifiers:
            r = by_p.get(p)
            line.append(Cell(None) if r is None else
                        Cell(r.get("purified_mean_deg"), _ci(r, "purified_mean_ci"), "*" if r.get("significant") else ""))
        if has_oracle:
            line.append(Cell(first.get("oracle_mean_deg"), _ci(first, "oracle_mean_ci")))
        err_rows.append(line)
    test = rows[0].get("test")
    n = rows[0].get("n_test")
    notes = [f"test {test}" + (f", {n} images" if n else "") + "; raw: the test images as they are"
             + ("; oracle: the paired clean render of each test eye" if has_oracle else "")]
    if any(any(c.ci for c in line) for line in err_rows):
        notes.append("[low, high]: 95% bootstrap interval of the mean")
    if any_sig:
        notes.append(SIGNIFICANCE_NOTE)
    if floors:
        notes.append("(floor): predicts a constant; the error any estimator must beat")
    out = [Layout("table2", "mean angular error (deg)",
                  names + ["raw"] + purifiers + (["oracle"] if has_oracle else []), err_rows, notes, len(names))]

    if any(r.get("diff_mean_deg") is not None for r in rows):
        subjects = any(r.get("subjects_n") is not None for r in rows)
        diff_rows = []
        for key, mine in groups.items():
            by_p = {r.get("purifier"): r for r in mine}
            line = _name_cells(key, floors, several_trains, with_seed)
            for p in purifiers:
                r = by_p.get(p) or {}
                line.append(Cell(r.get("diff_mean_deg"), _ci(r, "diff_mean_ci"), "*" if r.get("significant") else "",
                                 signed=True))
            for p in purifiers:
                r = by_p.get(p) or {}
                line.append(Cell(r.get("p_holm"), digits=3))
            if subjects:
                for p in purifiers:
                    r = by_p.get(p) or {}
                    line.append(Cell(None if r.get("subjects_n") is None
                                     else f"{r.get('subjects_improved')}/{r['subjects_n']}"))
            diff_rows.append(line)
        notes = ["p (Holm): Wilcoxon signed-rank test raw vs purified, Holm-corrected across the record's rows"]
        if subjects:
            notes.append("subjects: test subjects whose mean error purifying lowered, of those tested")
        out.append(Layout("improvement", "improvement raw - purified (deg; positive: purifying helped)",
                          names + purifiers + [f"p (Holm) {p}" for p in purifiers]
                          + ([f"subjects {p}" for p in purifiers] if subjects else []), diff_rows,
                          notes + ([SIGNIFICANCE_NOTE] if any_sig else []), len(names)))

    if any(r.get("gap_closed") is not None for r in rows) and purifiers:
        gap_rows = []
        for key, mine in groups.items():
            by_p = {r.get("purifier"): r for r in mine}
            line = _name_cells(key, floors, several_trains, with_seed)
            line += [Cell((by_p.get(p) or {}).get("gap_closed"), _ci(by_p.get(p) or {}, "gap_closed_ci"), digits=0,
                          percent=True) for p in purifiers]
            gap_rows.append(line)
        out.append(Layout("gap", "gap closed: (raw - purified) / (raw - oracle)", names + purifiers, gap_rows,
                          ["100%: as good as the oracle; 0%: no better than raw; '-': raw equals the oracle"],
                          len(names)))

    pupil = pupil_table(record, rows, noop)
    if pupil is not None:
        out.append(pupil)
    summary = summary_table(record, floors)
    if summary is not None:
        out.append(summary)
    return out


def pupil_table(record: dict[str, Any], rows: Sequence[dict[str, Any]], noop: set[str]) -> Layout | None:
    """Pupil metrics per image kind: the pupil locator's error (raw, each purifier, oracle) and the
    pupil-centre shift raw -> purified."""
    keys = ("pupil_err_raw_px", "pupil_err_purified_px", "pupil_err_oracle_px", "pupil_shift_px")
    if not any(r.get(k) is not None for r in rows for k in keys):
        return None
    stats = {(s.get("purifier"), s.get("style")): s for s in record.get("purifiers") or [] if isinstance(s, dict)}
    trains = list(dict.fromkeys(r.get("train") for r in rows))
    several = len(trains) > 1
    has_err = any(r.get(k) is not None for r in rows for k in keys[:3])
    has_std = any(s.get("pupil_shift_std_px") is not None for s in stats.values())
    out_rows: list[list[Cell]] = []

    def first(sel: Callable[[dict[str, Any]], bool], k: str) -> Any:
        return next((r.get(k) for r in rows if sel(r) and r.get(k) is not None), None)

    for t in trains:
        pre = [Cell(str(t))] if several else []
        if has_err:
            out_rows.append(pre + [Cell("raw"), Cell(first(lambda r: r.get("train") == t, "pupil_err_raw_px")),
                                   Cell(None)] + ([Cell(None)] if has_std else []))
        for p in _purifier_order([r for r in rows if r.get("train") == t]):
            if p in noop:
                continue
            sel = (lambda r, p=p: r.get("train") == t and r.get("purifier") == p)
            st = stats.get((p, t)) or stats.get((p, None)) or {}
            line = pre + [Cell(str(p)), Cell(first(sel, "pupil_err_purified_px")), Cell(first(sel, "pupil_shift_px"))]
            out_rows.append(line + ([Cell(st.get("pupil_shift_std_px"))] if has_std else []))
        if has_err and any(r.get("pupil_err_oracle_px") is not None for r in rows):
            out_rows.append(pre + [Cell("oracle"), Cell(first(lambda r: r.get("train") == t, "pupil_err_oracle_px")),
                                   Cell(None)] + ([Cell(None)] if has_std else []))
    headers = (["train"] if several else []) + ["images", "pupil error px", "pupil shift px"] + \
        (["shift std px"] if has_std else [])
    notes = ["pupil shift: distance between the pupil centre found in the raw and in the purified image "
             "(the paper's 'preserving ground truth'); biased where purification relights the eye: a "
             "perfect purifier moves it too"]
    if has_err:
        notes.append("pupil error: distance between the located and the labelled pupil centre; the oracle "
                     "row is the locator's own floor, a purifier that keeps the pupil scores at or below raw")
    else:  # no locator ran: the error column says nothing
        headers.pop(1 + several)
        for line in out_rows:
            line.pop(1 + several)
    return Layout("pupil", "pupil metrics (px)", headers, out_rows, notes, 1 + several)


def summary_table(record: dict[str, Any], floors: set[str]) -> Layout | None:
    """The record's across-seed ``summary``: mean +- std over seeds for each estimator/train/purifier."""
    noop = noop_purifiers(record)  # their rows repeat raw
    summary = [s for s in record.get("summary") or [] if isinstance(s, dict) and s.get("purifier") not in noop]
    if not summary:
        return None
    several = len({s.get("train") for s in summary}) > 1
    cols = [("raw_mean_deg", "raw"), ("purified_mean_deg", "purified"), ("oracle_mean_deg", "oracle"),
            ("gap_closed", "gap closed")]
    cols = [c for c in cols if any(s.get(c[0]) is not None for s in summary)]
    has_sig = any(s.get("significant_seeds") is not None for s in summary)
    out_rows = []
    for s in summary:
        est = f"{s.get('estimator')} (floor)" if s.get("estimator") in floors else str(s.get("estimator"))
        line = [Cell(est)] + ([Cell(str(s.get("train")))] if several else []) + [Cell(str(s.get("purifier")))]
        line.append(Cell(s.get("n_seeds")))
        if has_sig:
            line.append(Cell(f"{s.get('significant_seeds')}/{s.get('n_seeds')}"))
        for k, _ in cols:
            std = s.get(f"{k}_seed_std")
            pct = k == "gap_closed"
            v = s.get(k)
            if not isinstance(v, (int, float)):
                line.append(Cell(None))
                continue
            shown = f"{v * 100:.0f}%" if pct else num(v)
            if isinstance(std, (int, float)):
                shown += f" ± {std * 100:.0f}%" if pct else f" ± {num(std)}"
            line.append(Cell(v, shown=shown))
        out_rows.append(line)
    names = ["estimator"] + (["train"] if several else []) + ["purifier"]
    notes = ["± : standard deviation of the per-seed means"]
    if has_sig:
        notes.append("significant: seeds in which raw vs purified differ (Wilcoxon signed-rank, Holm-corrected)")
    return Layout("summary", "across seeds: mean ± std over seeds (deg)",
                  names + ["seeds"] + (["significant"] if has_sig else []) + [h for _, h in cols],
                  out_rows, notes, len(names))


# -- Table 1 ----------------------------------------------------------------------------------

def _speed_label(r: dict[str, Any]) -> str:
    name = speed_method(r)
    if r.get("projected"):
        its = r.get("iterations")
        return f"{name} ({its} its, projected)" if its else f"{name} (projected)"
    return name


def table1(record: dict[str, Any]) -> list[Layout]:
    """The speed record in the paper's layout: seconds per image per resolution, the speed-ups,
    and (records that measured it) the distance to the machine's limit."""
    rows = [r for r in record.get("rows") or [] if isinstance(r, dict)]
    sizes = sorted({r.get("resolution") for r in rows if isinstance(r.get("resolution"), int)})
    names = list(dict.fromkeys(speed_method(r) for r in rows))
    cell = {(speed_method(r), r.get("resolution")): r for r in rows}
    label = {n: _speed_label(next(r for r in rows if speed_method(r) == n)) for n in names}
    heads = [f"{px}x{px}" for px in sizes]
    lines = []
    for n in names:
        line = [Cell(label[n])]
        for px in sizes:
            r = cell.get((n, px))
            if r is None:
                line.append(Cell(None))
            elif r.get("error"):
                line.append(Cell(str(r["error"])))
            else:
                line.append(Cell(r.get("seconds_per_image"), sig=True))
        lines.append(line)
    device = {r.get("device") for r in rows} - {None}
    notes = [f"batch-1 latency, median of the timed runs; device {', '.join(sorted(device)) or '-'}"]
    if any(r.get("projected") for r in rows):
        notes.append("projected: timed at two small iteration counts, extrapolated linearly to the count shown")
    out = [Layout("table1", "seconds per image", ["method"] + heads, lines, notes)]
    baselines = list(dict.fromkeys(k[len("speedup_vs_"):] for r in rows for k in r if k.startswith("speedup_vs_")))
    for b in baselines:
        # the baseline's own row (its first variant, fp32 eager; old records: its only row) is 1x
        own = {speed_method(r) for r in rows if r.get("purifier") == b and r.get("primary", True)}
        sp = []
        for n in names:
            if n in own:
                continue
            sp.append([Cell(label[n])] + [Cell((cell.get((n, px)) or {}).get(f"speedup_vs_{b}"), suffix="x", sig=True)
                                          for px in sizes])
        if sp:
            base = next((n for n in names if n in own), b)
            out.append(Layout(f"speedup_{b}", f"speed-up vs {base} (its seconds / each method's; >1: faster)",
                              ["method"] + heads, sp))
    limit = limit_table(rows)
    if limit is not None:
        out.append(limit)
    return out


def limit_table(rows: Sequence[dict[str, Any]]) -> Layout | None:
    """Distance to the machine's limit: per method and size, GFLOP per image, achieved GFLOP/s, the
    peak measured beside it and the fraction; best-batch throughput; a knob setting's speed-up and
    output error against fp32 eager. ``None`` for records that did not count FLOPs."""
    if not any(r.get("gflop_per_image") is not None for r in rows):
        return None
    heads = ["method", "px", "GFLOP/image", "GFLOP/s", "peak GFLOP/s", "of peak", "images/s (batch)",
             "x vs fp32 eager", "max err", "mean err"]
    lines = []
    for r in sorted(rows, key=lambda r: (r.get("resolution") or 0)):
        if r.get("error"):
            continue
        ips, batch = r.get("images_per_second"), r.get("batch")
        lines.append([Cell(_speed_label(r)), Cell(r.get("resolution")), Cell(r.get("gflop_per_image"), sig=True),
                      Cell(r.get("gflops"), sig=True), Cell(r.get("peak_gflops"), sig=True),
                      Cell(r.get("fraction_of_peak"), percent=True, digits=1),
                      Cell(ips, shown=f"{ips:.3g} ({batch})" if ips else None),
                      Cell(r.get("speedup_over_reference"), suffix="x", sig=True),
                      Cell(r.get("max_error"), digits=0), Cell(r.get("mean_error"), digits=3)])
    notes = ["GFLOP: matmuls and convolutions counted by torch.utils.flop_counter (forward, and backward for "
             "an optimisation), once per method and size; GFLOP/s: GFLOP / seconds per image",
             "peak: median of a matmul and a conv probe in the row's precision and layout, run before and after "
             "every timed round; images/s at the best batch (in brackets)",
             "err: |output - fp32 eager output| on the same image in grey levels (optimisations: after the "
             "larger timed iteration count)"]
    return Layout("limit", "distance to the machine's limit", heads, lines, notes, 2)


def layouts(record: dict[str, Any]) -> list[Layout]:
    """The paper layout of any record: Table 2 for runs, Table 1 for speed records."""
    if is_run(record):
        return table2(record)
    if is_speed(record):
        return table1(record)
    raise ValueError(f"no paper layout for schema {record.get('schema')!r}")


# -- several records --------------------------------------------------------------------------

def comparison(records: Sequence[tuple[str, dict[str, Any]]]) -> list[Layout]:
    """One table per record kind holding two or more records: the headline numbers side by side."""
    out = []
    runs = [(n, r) for n, r in records if is_run(r)]
    if len(runs) > 1:
        keys: list[tuple] = []
        index: dict[str, dict[tuple, dict[str, Any]]] = {}
        for name, rec in runs:
            index[name] = {}
            for r in rec.get("rows") or []:
                k = (r.get("estimator"), r.get("train"), r.get("test"), r.get("purifier"), r.get("seed", rec.get("seed")))
                index[name][k] = r
                if k not in keys:
                    keys.append(k)
        labels = [f"R{i + 1}" for i in range(len(runs))]
        several_seeds = len({k[4] for k in keys}) > 1
        lines = []
        for k in keys:
            line = [Cell(str(x)) for x in k[:4]] + ([Cell(str(k[4]))] if several_seeds else [])
            for name, _ in runs:
                r = index[name].get(k) or {}
                line += [Cell(r.get("raw_mean_deg"), _ci(r, "raw_mean_ci")),
                         Cell(r.get("purified_mean_deg"), _ci(r, "purified_mean_ci"), "*" if r.get("significant") else "")]
            lines.append(line)
        names = ["estimator", "train", "test", "purifier"] + (["seed"] if several_seeds else [])
        heads = names + [f"{lab} {w}" for lab in labels for w in ("raw", "purified")]
        out.append(Layout("compare_runs", "runs compared: mean angular error (deg)", heads, lines,
                          [f"{lab}: {name}" for lab, (name, _) in zip(labels, runs)], len(names)))
    speeds = [(n, r) for n, r in records if is_speed(r)]
    if len(speeds) > 1:
        keys = []
        index = {}
        for name, rec in speeds:
            index[name] = {}
            for r in rec.get("rows") or []:
                k = (speed_method(r), r.get("resolution"))
                index[name][k] = r
                if k not in keys:
                    keys.append(k)
        labels = [f"S{i + 1}" for i in range(len(speeds))]
        lines = []
        for k in keys:
            line = [Cell(str(k[0])), Cell(k[1])]
            for name, _ in speeds:
                line.append(Cell((index[name].get(k) or {}).get("seconds_per_image"), sig=True))
            lines.append(line)
        out.append(Layout("compare_speed", "speed records compared: seconds per image", ["method", "px"] + labels,
                          lines, [f"{lab}: {name}" for lab, (name, _) in zip(labels, speeds)], 2))
    return out


def compare_layout(rows: Sequence[dict[str, Any]], title: str, *, wide: bool = False) -> Layout:
    """Rows of ``gazebench compare`` (``compare_rows``: each value as ``(A, B, B - A)``, ``shared``:
    the paired test on shared samples) as a table: raw and purified means A, B, B - A and p;
    ``wide`` adds the oracle, gap closed and the interval of B - A on shared samples. Key columns
    that are the same for every row (one test set, one seed) go into the title instead."""
    key = ("estimator", "train", "test", "purifier", "seed")
    shown = [k for k in key if k in ("estimator", "purifier") or (wide and k in ("train", "test"))
             or len({r.get(k) for r in rows}) > 1]
    fixed = [f"{k} {rows[0].get(k)}" for k in key if k not in shown and rows and rows[0].get(k) is not None]
    values = [("raw_mean_deg", "raw"), ("purified_mean_deg", "pur.")]
    if wide:
        values += [("oracle_mean_deg", "oracle"), ("gap_closed", "gap")]
    heads = list(shown)
    for _, h in values:
        heads += [f"{h} A", f"{h} B", f"d {h}"]
    heads += ["p"] + (["d pur. shared [95% CI]"] if wide else [])
    lines = []
    for r in rows:
        line = [Cell(str(r.get(c))) for c in shown]
        for v, _ in values:
            va, vb, d = r.get(v) or (None, None, None)
            if v == "gap_closed":
                line += [Cell(va, percent=True, digits=0), Cell(vb, percent=True, digits=0),
                         Cell(None if d is None else f"{d * 100:+.0f}%")]
            else:
                line += [Cell(va), Cell(vb), Cell(d, signed=True)]
        sh = r.get("shared") or {}
        line.append(Cell(None if sh.get("p_value") is None else f"{sh['p_value']:.2g}", digits=2))
        if wide:
            ci = sh.get("purified_diff_ci")
            line.append(Cell(None if not ci else f"[{ci[0]:+.2f}, {ci[1]:+.2f}] (n {sh.get('n')})"))
        lines.append(line)
    notes = ["p: paired Wilcoxon test of B's purified errors against A's on the test samples both scored "
             "(records with per-sample errors)", "a row in only one record shows '-' on the other side"]
    return Layout("compare", f"{title} (degrees; B - A)" + (f"; {', '.join(fixed)}" if fixed else ""), heads, lines,
                  notes, len(shown))


def run_rows_layout(record: dict[str, Any], *, wide: bool = False) -> Layout:
    """A run's rows one per line, as ``gazebench run`` shows them: the columns of
    :func:`gazebench.results.run_screen_columns` (``wide``: every column of the record's table),
    the purified mean with its interval and a ``*`` where significant (``wide``: every interval)."""
    from gazebench.results import RUN_CI, RUN_COLUMNS, run_screen_columns

    rows = _rows(record)
    trains = list(dict.fromkeys(r.get("train") for r in rows))
    several_seeds = len({r.get("seed") for r in rows}) > 1
    if wide:
        cols = [c for c in RUN_COLUMNS if c[0] != "test" and (c[0] != "seed" or several_seeds)]
    else:
        cols = run_screen_columns(several_trains=len(trains) > 1, several_seeds=several_seeds)
    n_names = sum(1 for _, _, f in cols if f == "s")
    lines = []
    for r in rows:
        line = []
        for k, _, f in cols:
            v = r.get(k)
            if f == "s":
                line.append(Cell(str(v)))
            elif f == "p":
                line.append(Cell(None if v is None else f"{v:.2g}" + ("*" if r.get("significant") else "")))
            elif k == "gap_closed":
                line.append(Cell(v, _ci(r, RUN_CI[k]) if wide else None, digits=0, percent=True))
            elif isinstance(v, float):
                ci = _ci(r, RUN_CI.get(k, "")) if (wide or k == "purified_mean_deg") else None
                line.append(Cell(v, ci, "*" if k == "purified_mean_deg" and r.get("significant") else ""))
            else:
                line.append(Cell(v))
        lines.append(line)
    n = sorted({r.get("n_test") for r in rows if r.get("n_test") is not None})
    title = (f"angular error (deg), train {', '.join(map(str, trains))} -> test {(record.get('config') or {}).get('test')}"
             + (f" (n = {', '.join(map(str, n))})" if n else ""))
    notes = [SIGNIFICANCE_NOTE] if any(r.get("significant") for r in rows) else []
    if any(_ci(r, "purified_mean_ci") for r in rows):
        notes.insert(0, "[low, high]: 95% bootstrap interval of the mean")
    return Layout("rows", title, [h for _, h, _ in cols], lines, notes, n_names)


# -- text renderings --------------------------------------------------------------------------

def _md(lay: Layout) -> str:
    def esc(t: str) -> str:
        return t.replace("|", "\\|")

    lines = [f"**{lay.title}**", "", "| " + " | ".join(esc(h) for h in lay.headers) + " |",
             "|" + "|".join("---" if i < lay.n_names else "---:" for i in range(len(lay.headers))) + "|"]
    lines += ["| " + " | ".join(esc(t) for t in r) + " |" for r in lay.texts()]
    if lay.notes:
        lines += [""] + [f"{n}  " for n in lay.notes[:-1]] + [lay.notes[-1]]
    return "\n".join(lines)


def to_markdown(tables: Sequence[Layout], caption: str = "") -> str:
    """Markdown tables, each with its title and notes, then the record's caption."""
    parts = [_md(t) for t in tables]
    return "\n\n".join(parts) + (f"\n\n{caption}\n" if caption else "\n")


def _latex_escape(text: str) -> str:
    text = text.replace("\\", "\0")
    for a, b in (("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$"), ("{", r"\{"),
                 ("}", r"\}"), ("±", r"$\pm$"), ("~", r"\textasciitilde{}")):
        text = text.replace(a, b)
    return text.replace("\0", r"\textbackslash{}")


def to_latex(tables: Sequence[Layout], caption: str = "") -> str:
    """One booktabs ``table`` per layout; the first carries the record's caption."""
    out = []
    for i, lay in enumerate(tables):
        spec = "l" * lay.n_names + "r" * (len(lay.headers) - lay.n_names)
        cap = lay.title + (". " + "; ".join(lay.notes) if lay.notes else "") + (f". {caption}" if caption and i == 0 else "")
        lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + spec + "}", r"\toprule",
                 " & ".join(_latex_escape(h) for h in lay.headers) + r" \\", r"\midrule"]
        lines += [" & ".join(_latex_escape(t) for t in r) + r" \\" for r in lay.texts()]
        lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + _latex_escape(cap) + "}",
                  r"\label{tab:" + lay.key.replace("_", "-") + "}", r"\end{table}"]
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def to_csv(tables: Sequence[Layout], record_names: Sequence[str] = ()) -> str:
    """The first (main) table at full precision: a value column per header, and ``low``/``high``
    columns beside each one that has an interval. ``record_names`` (several records): one main
    table per record, a leading ``record`` column naming it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    mains = list(tables) if record_names else list(tables[:1])
    header_written = False
    for j, lay in enumerate(mains):
        has_ci = [any(r[i].ci for r in lay.rows) for i in range(len(lay.headers))]
        head = []
        for h, ci in zip(lay.headers, has_ci):
            head += [h] + ([f"{h} low", f"{h} high"] if ci else [])
        if record_names:
            head = ["record"] + head
        if not header_written or record_names:
            if header_written:
                w.writerow([])
            w.writerow(head)
            header_written = True
        for r in lay.rows:
            line: list[Any] = [record_names[j]] if record_names else []
            for c, ci in zip(r, has_ci):
                v = c.value
                line.append("" if v is None else v)
                if ci:
                    line += ["", ""] if c.ci is None else [c.ci[0], c.ci[1]]
            w.writerow(line)
    return buf.getvalue()


def terminal_table(lay: Layout, *, wide: bool = False) -> Any:
    """A rich Table of ``lay`` (numbers right-aligned, never wrapped: they stay whole)."""
    from rich import box
    from rich.table import Table

    t = Table(title=lay.title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
              caption="\n".join(lay.notes) if wide else None, caption_justify="left")
    for i, h in enumerate(lay.headers):
        if i < lay.n_names:
            t.add_column(h, justify="left", overflow="fold")
        else:
            t.add_column(h, justify="right", no_wrap=True)
    for r in lay.texts():
        t.add_row(*r)
    return t
