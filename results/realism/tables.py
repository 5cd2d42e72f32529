"""Markdown tables of docs/renderer.md from the `gazebench realism` records beside this file.

    python results/realism/tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLASSIFIERS = ("hist", "intensity", "gradient", "pixels", "hog", "convnet")
STATS = (("grad_p99", "gradient magnitude, 99th percentile", 1), ("laplacian", "mean absolute Laplacian", 1),
         ("dark_centre", "dark fraction in the central region", 2), ("border", "border brightness", 1),
         ("lr_asymmetry", "left-right shading asymmetry (median)", 1))


def _load(name: str) -> dict | None:
    path = HERE / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def accuracy_table(columns: list[tuple[str, str]]) -> str:
    recs = [(title, _load(name)) for title, name in columns]
    recs = [(t, r) for t, r in recs if r]
    lines = ["| classifier | " + " | ".join(t for t, _ in recs) + " |", "| --- |" + " --- |" * len(recs)]
    for k in CLASSIFIERS:
        cells = []
        for _, r in recs:
            v = r["classifiers"].get(k)
            cells.append("-" if v is None else f"{v['accuracy']:.3f} +- {v['std']:.3f}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def statistics_table(columns: list[tuple[str, str]]) -> str:
    recs = [(title, _load(name)) for title, name in columns]
    recs = [(t, r) for t, r in recs if r]
    real = recs[0][1]["statistics"]["a"]
    lines = ["| statistic | real | " + " | ".join(t for t, _ in recs) + " |", "| --- | --- |" + " --- |" * len(recs)]
    for key, text, digits in STATS:
        cells = []
        for _, r in recs:
            v = r["statistics"]["b"][key]
            cells.append(f"{v:.{digits}f} ({(v - real[key]) / real[key]:+.0%})")
        lines.append(f"| {text} | {real[key]:.{digits}f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def purified_statistics_table() -> str:
    raw, pur = _load("real-vs-synth"), _load("purified-vs-synth")
    if not raw or not pur:
        return ""
    synth = raw["statistics"]["b"]
    lines = ["| statistic | raw real | purified real | `synth` |", "| --- | --- | --- | --- |"]
    for key, text, digits in STATS:
        r, p, s = raw["statistics"]["a"][key], pur["statistics"]["a"][key], synth[key]
        lines.append(f"| {text} | {r:.{digits}f} ({(r - s) / s:+.0%}) | {p:.{digits}f} ({(p - s) / s:+.0%}) "
                     f"| {s:.{digits}f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    held = [("`synth-wild` v1", "v1-heldout"), ("`synth-wild` v2", "v2-heldout"), ("`synth-wild` v3", "v3-heldout"),
            ("`synth` v1-v2", "synth-heldout")]
    print("held-out: real patches 400:600 vs 200 test renders\n")
    print(accuracy_table(held) + "\n")
    print(statistics_table(held) + "\n")
    full = [("`synth-wild` v1", "v1-all"), ("`synth-wild` v2", "v2-all")]
    print("all 600 real patches vs 600 test renders (the tuning used 400 of them)\n")
    print(accuracy_table(full) + "\n")
    print(statistics_table(full) + "\n")
    pur = [("raw real vs `synth`", "real-vs-synth"), ("purified real vs `synth`", "purified-vs-synth")]
    print("purified real patches (attention, fitted on real content, `synth` style) vs `synth`\n")
    print(accuracy_table(pur) + "\n")
    print(purified_statistics_table() + "\n")
    print("the real patches against themselves (0:300 vs 300:600)\n")
    print(accuracy_table([("real vs real", "real-vs-real")]))
