"""Result records: the environment block, writing/reading records, and table renderings.

The record format is documented in ``docs/results.md``; ``SCHEMA_RUN`` names its version.
A value that was not measured is ``null`` (``None``), never left out.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from gazebench.io import write_json_atomic

SCHEMA_RUN = "gazebench.run/2"
#: every run schema this version reads (/1: no seeds, intervals or per-sample errors)
RUN_SCHEMAS = ("gazebench.run/1", SCHEMA_RUN)
SCHEMA_SPEED = "gazebench.speed/1"
#: ``gazebench realism``: two image sets measured against each other (:mod:`gazebench.realism`)
SCHEMA_REALISM = "gazebench.realism/1"
KNOWN_SCHEMAS = (*RUN_SCHEMAS, SCHEMA_SPEED)

#: columns of a run table, defined once for every renderer: (record key, header, short header
#: for an 80-column screen, format, screen format); report/csv/latex use the full headers
_RUN: tuple[tuple[str, str, str, str, str], ...] = (
    ("estimator", "estimator", "estimator", "s", "s"),
    ("train", "train", "train", "s", "s"),
    ("test", "test", "test", "s", "s"),
    ("purifier", "purifier", "purifier", "s", "s"),
    ("seed", "seed", "seed", "d", "d"),
    ("n_test", "n", "n", "d", "d"),
    ("raw_mean_deg", "raw mean", "raw", ".2f", ".2f"),
    ("raw_median_deg", "raw median", "raw med", ".2f", ".2f"),
    ("purified_mean_deg", "purified mean", "purified [95% CI]", ".2f", ".2f"),
    ("purified_median_deg", "purified median", "pur. med", ".2f", ".2f"),
    ("oracle_mean_deg", "oracle mean", "oracle", ".2f", ".2f"),
    ("gap_closed", "gap closed", "gap", ".2f", ".0%"),
    ("diff_mean_deg", "raw - purified", "raw-pur.", ".2f", ".2f"),
    ("p_holm", "p (Wilcoxon, Holm)", "p Holm", "p", "p"),
    ("pupil_err_raw_px", "pupil error raw px", "pupil raw", ".2f", ".2f"),
    ("pupil_err_purified_px", "pupil error purified px", "pupil pur.", ".2f", ".2f"),
    ("pupil_err_oracle_px", "pupil error oracle px", "pupil orc.", ".2f", ".2f"),
    ("pupil_shift_px", "pupil shift px (biased by relighting)", "shift px", ".2f", ".2f"),
)
RUN_COLUMNS: tuple[tuple[str, str, str], ...] = tuple((k, h, f) for k, h, _, f, _ in _RUN)
#: the 95% bootstrap interval shown beside a value, where the record has one (gazebench.run/2)
RUN_CI = {"raw_mean_deg": "raw_mean_ci", "purified_mean_deg": "purified_mean_ci", "oracle_mean_deg": "oracle_mean_ci",
          "gap_closed": "gap_closed_ci", "diff_mean_deg": "diff_mean_ci"}
#: what identifies a row across records (``gazebench compare``) and the values compared
RUN_KEY: tuple[str, ...] = ("estimator", "train", "test", "purifier", "seed")
RUN_VALUES: tuple[str, ...] = ("raw_mean_deg", "purified_mean_deg", "oracle_mean_deg", "gap_closed")


def run_screen_columns(several_trains: bool = False, several_seeds: bool = False) -> list[tuple[str, str, str]]:
    """(key, short header, format) of the run table on an 80-column screen: the test set and n go
    in the title, medians and the pupil column in ``report``; the interval is the purified mean's."""
    skip = {"test", "n_test", "raw_median_deg", "purified_median_deg", "diff_mean_deg", "pupil_shift_px",
            "pupil_err_raw_px", "pupil_err_purified_px", "pupil_err_oracle_px"}
    skip |= set() if several_trains else {"train"}
    skip |= set() if several_seeds else {"seed"}
    return [(k, short, f) for k, _, short, _, f in _RUN if k not in skip]


def run_cell(row: dict[str, Any], key: str, spec: str, ci: bool = True) -> str:
    """One cell of a run table: the value, its interval ``[low, high]`` where the row has one, and
    for ``p`` columns a ``*`` where the row is significant (Holm-corrected, 0.05)."""
    value = row.get(key)
    if spec == "p":
        if value is None:
            return "-"
        return f"{value:.2g}" + ("*" if row.get("significant") else "")
    text = _fmt(value, spec)
    bounds = row.get(RUN_CI.get(key, ""), None) if ci else None
    if value is not None and bounds:
        text += f" [{_fmt(bounds[0], spec)}, {_fmt(bounds[1], spec)}]"
    return text


SPEED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("method", "method", "s"),
    ("resolution", "px", "d"),
    ("seconds_per_image", "s/image", ".4g"),
    ("seconds_min", "min", ".4g"),
    ("seconds_max", "max", ".4g"),
    ("images_per_second", "images/s (best batch)", ".3g"),
    ("batch", "batch", "d"),
    ("gflop_per_image", "GFLOP/image", ".4g"),
    ("gflops", "GFLOP/s", ".4g"),
    ("peak_gflops", "peak GFLOP/s", ".4g"),
    ("fraction_of_peak", "of peak", ".1%"),
    ("speedup_over_reference", "x vs fp32 eager", ".3g"),
    ("max_error", "max err", ".0f"),
    ("mean_error", "mean err", ".3f"),
    # one "x vs NAME" column per baseline follows here (speed_columns)
    ("projected", "projected", "yn"),
    ("error", "error", "s"),
)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the git checkout holding ``path`` (the package by default), if any."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_name(device: str | None) -> str:
    """A human name for a torch device string ("cpu" -> the CPU model, "cuda" -> the GPU)."""
    if device and device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple MPS"
    name = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return name or platform.machine()


def cpu_model(cpuinfo: str | None = None) -> str | None:
    """The CPU's family / model / stepping numbers (from ``/proc/cpuinfo``, or ``cpuinfo``'s
    text): machines that share a marketing name ("Intel(R) Xeon(R) Processor") can be different
    generations with different vector units; ``None`` where there is no such file."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                cpuinfo = fh.read(20_000)
        except OSError:
            return None
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    parts = [f"{k} {fields[k]}" for k in ("cpu family", "model", "stepping") if k in fields]
    return ", ".join(parts) or None


def environment(device: str | None = None, plugins: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Versions, device and plugins: what a record needs to be reproduced."""
    from gazebench import __version__

    env: dict[str, Any] = {
        "gazebench": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "git_commit": git_commit(),
    }
    for dist in ("torch", "torchvision", "timm", "kornia", "scikit-learn", "numpy", "pluggy"):
        env[dist.replace("-", "_")] = _version(dist)
    if "torch" in sys.modules:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        # which vector kernels torch's CPU ops use: a fit's float rounding, and so a trained
        # purifier's gap closed (up to 0.08 on one seed, results/README.md), differs between them
        env["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        env["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    env["plugins"] = [dict(p) for p in plugins]
    return env


def data_versions(record: dict[str, Any]) -> dict[str, str | None]:
    """``{"ROLE NAME": version}`` of every generated dataset a run record used (its info's
    ``renderer_version``; ``None`` where the record predates versions): two records whose
    versions differ measured different data, even under the same names."""
    out: dict[str, str | None] = {}
    for role, info in (record.get("datasets") or {}).items():
        if not isinstance(info, dict):
            continue
        items = info.items() if role == "train" else [(info.get("name"), info)]
        for name, entry in items:
            if isinstance(entry, dict) and entry.get("renderer"):
                out[f"{role} {name}"] = entry.get("renderer_version")
    return out


def new_record(schema: str, cfg: Any, pm: Any, device: str | None) -> dict[str, Any]:
    """The skeleton every record starts from: schema, command, configuration, seed, start time.

    ``cfg`` is a dataclass with ``command`` and ``seed``; :func:`finish_record` completes it.
    """
    from dataclasses import asdict

    return {"schema": schema, "command": cfg.command, "config": asdict(cfg), "seed": cfg.seed,
            "started": utc_now(), "ended": None, "environment": {"device": device}}


def claim_path(folder: Path, stem: str, started: str) -> Path:
    """A record path no other run has: ``<stem>-<UTC start>.json``, else ``-2``, ``-3``, ... .

    The name is claimed by creating the file exclusively (``O_EXCL``), so two runs started in the
    same second, in two processes, never write the same file; the atomic write then replaces the
    empty claim.
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{stem}-{started.replace(':', '')}"
    for i in range(1, 10_000):
        path = folder / (f"{base}.json" if i == 1 else f"{base}-{i}.json")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free record name {base}-N.json in {folder}")


def samples_path(record_path: Path) -> Path:
    """The sidecar holding a record's per-sample arrays: ``NAME.samples.npz`` beside ``NAME.json``."""
    return record_path.with_name(record_path.stem + ".samples.npz")


def write_samples(path: Path, arrays: dict[str, Any]) -> dict[str, Any]:
    """Write ``arrays`` (name -> 1-D array) as an ``.npz`` atomically; return what the record says of it."""
    import hashlib

    import numpy as np

    from gazebench.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "arrays": len(arrays)}


def read_samples(record: dict[str, Any]) -> dict[str, Any] | None:
    """The per-sample arrays a record names, checked against its sha256; None where it has none.

    Raises ``ValueError`` (one line) when the sidecar is missing or does not match the record.
    """
    import hashlib

    import numpy as np

    info = record.get("samples")
    if not info or "path" not in record:
        return None
    path = Path(record["path"]).with_name(info["file"])
    if not path.is_file():
        raise ValueError(f"record {record['path']} names per-sample errors in {path}, which is missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != info.get("sha256"):
        raise ValueError(f"{path} does not match the sha256 its record {record['path']} holds; "
                         "it was changed or belongs to another record")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def finish_record(record: dict[str, Any], out: str | Path | None, stem: str, pm: Any,
                  arrays: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stamp the end time and environment, write the record (``out``, else a unique
    ``results/runs/<stem>-<UTC start>[-N].json``) and, given ``arrays``, its per-sample sidecar;
    hand it to plugins' ``gazebench_record`` hooks, and return it with its ``path``."""
    plugins = [{"name": p.name, "distribution": p.distribution, "version": p.version, "broken": p.broken}
               for p in pm.plugins.values()]
    record["ended"] = utc_now()
    record["environment"] = environment(record["environment"].get("device"), plugins)
    if out is None or Path(out).is_dir():  # --out FOLDER: a unique name inside it
        path = claim_path(Path(out) if out else Path("results") / "runs", stem, record["started"])
    else:
        path = Path(out)
    try:
        if arrays:
            record["samples"] = write_samples(samples_path(path), arrays)
        write_record(record, path)
    except OSError as exc:  # never lose a finished record: keep it, then say where
        from gazebench.checks import CheckError, fallback_path

        spare = fallback_path(f"{stem}-{record['started'].replace(':', '')}-{os.getpid()}.json")
        if arrays:
            record["samples"] = write_samples(samples_path(spare), arrays)
        write_record(record, spare)
        raise CheckError(f"could not write the record to {path} ({exc.strerror or exc}); "
                         f"it was saved to {spare}") from exc
    pm.record(dict(record))
    record["path"] = str(path)
    return record


def write_record(record: dict[str, Any], path: str | Path) -> Path:
    """Write ``record`` as JSON atomically (temporary file + rename)."""
    return write_json_atomic(path, record)


def load_record(path: str | Path) -> dict[str, Any]:
    """Read a record, with one-line errors for a missing, unreadable or unknown file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"record {path} does not exist")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"record {path} is not valid JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("schema") not in KNOWN_SCHEMAS:
        raise ValueError(f"record {path} has schema {record.get('schema') if isinstance(record, dict) else None!r}; "
                         f"gazebench reads {', '.join(KNOWN_SCHEMAS)}")
    return record


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if spec == "s":
        return str(value)
    if spec == "yn":
        return "yes" if value else "no"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def speed_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """:data:`SPEED_COLUMNS` with one ``x vs NAME`` column per baseline the rows were compared to."""
    baselines = list(dict.fromkeys(k for r in rows for k in r if k.startswith("speedup_vs_")))
    cut = [c[0] for c in SPEED_COLUMNS].index("projected")
    return [*SPEED_COLUMNS[:cut], *((k, f"x vs {k[len('speedup_vs_'):]}", ".3g") for k in baselines),
            *SPEED_COLUMNS[cut:]]


def table(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of a record's rows ('-' for null)."""
    if record.get("schema") in RUN_SCHEMAS:
        rows = record["rows"]
        cols = [c for c in RUN_COLUMNS if c[0] != "seed" or len({r.get("seed") for r in rows}) > 1]
        return [c[1] for c in cols], [[run_cell(r, k, f) for k, _, f in cols] for r in rows]
    from gazebench.layouts import speed_method

    cols = speed_columns(record.get("rows") or [])
    return [c[1] for c in cols], [[_fmt(speed_method(r) if k == "method" else r.get(k), f) for k, _, f in cols]
                                  for r in record.get("rows") or []]


def caption(record: dict[str, Any]) -> str:
    """One line saying what was measured, where, and with which loss network if any."""
    env = record.get("environment", {})
    cfg = record.get("config", {})
    bits = [f"{record.get('schema')}", f"device {env.get('device')} ({env.get('device_name')})",
            f"torch {env.get('torch')}, {env.get('torch_threads')} threads",
            f"seed {cfg.get('seed')}", f"gazebench {env.get('gazebench')}"]
    for note in record.get("notes", []):
        bits.append(note)
    return "; ".join(str(b) for b in bits)


def compact(headers: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Drop the columns in which no row has a value (all '-')."""
    keep = [i for i in range(len(headers)) if any(r[i] != "-" for r in rows)] or list(range(len(headers)))
    return [headers[i] for i in keep], [[r[i] for i in keep] for r in rows]


def speed_pivot(record: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The paper's Table 1 layout: one row per purifier, seconds per image per resolution."""
    from gazebench.layouts import speed_method

    rows = record.get("rows") or []
    sizes = sorted({r["resolution"] for r in rows})
    names = list(dict.fromkeys(speed_method(r) for r in rows))
    cell = {(speed_method(r), r["resolution"]): r for r in rows}
    out = []
    for n in names:
        line = [n]
        for px in sizes:
            r = cell.get((n, px))
            if r is None:
                line.append("-")
            elif r.get("error"):
                line.append(str(r["error"]))
            else:
                line.append(_fmt(r["seconds_per_image"], ".4g") + (" (projected)" if r.get("projected") else ""))
        out.append(line)
    return ["method"] + [f"{px}x{px}" for px in sizes], out


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
            + ["| " + " | ".join(r) + " |" for r in rows])


def to_markdown(record: dict[str, Any]) -> str:
    headers, rows = table(record)
    if record.get("schema") not in RUN_SCHEMAS:
        pivot = _md_table(*speed_pivot(record))
        detail = _md_table(*compact(headers, rows))
        return "\n".join(["Seconds per image:", "", *pivot, "", *detail]) + f"\n\n{caption(record)}\n"
    return "\n".join(_md_table(headers, rows)) + f"\n\n{caption(record)}\n"


def to_csv(record: dict[str, Any]) -> str:
    """CSV with the raw values (full precision, empty for null), not the rounded cells."""
    rows = record.get("rows") or []
    keys: list[str] = []
    for r in rows:
        keys += [k for k, v in r.items() if k not in keys and not isinstance(v, (list, dict))]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for r in rows:
        writer.writerow(["" if r.get(k) is None else r.get(k) for k in keys])
    return buf.getvalue()


def _latex_escape(text: str) -> str:
    text = text.replace("\\", "\0")  # protect backslashes from the brace escapes below
    for a, b in (("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$"),
                 ("{", r"\{"), ("}", r"\}")):
        text = text.replace(a, b)
    return text.replace("\0", r"\textbackslash{}")


def to_latex(record: dict[str, Any]) -> str:
    """A booktabs table."""
    headers, rows = table(record)
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + "l" * 4 + "r" * (len(headers) - 4) + "}"
             if record.get("schema") in RUN_SCHEMAS else r"\begin{tabular}{" + "l" * len(headers) + "}",
             r"\toprule", " & ".join(_latex_escape(h) for h in headers) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + _latex_escape(caption(record)) + "}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


FORMATS = {"md": to_markdown, "csv": to_csv, "latex": to_latex}
