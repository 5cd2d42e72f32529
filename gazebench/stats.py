"""How sure a run is: bootstrap intervals, paired tests, Holm's correction, seed and subject summaries.

Every interval is a 95% percentile bootstrap (``scipy.stats.bootstrap``) over test samples, with
a fixed resampling seed, so the same record always gives the same intervals. The percentile
method is used rather than BCa because BCa is undefined on constant data (a purifier that changes
nothing gives identical raw and purified errors), which a benchmark meets routinely.

Raw, purified and oracle errors of one row are errors of the *same* test eyes, so their
differences and the gap closed are bootstrapped *paired* (the same resampled eyes in each).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Sequence

import numpy as np

#: resamples per interval and the resampling seed (fixed: same record, same intervals)
N_RESAMPLES = 2000
RESAMPLE_SEED = 0
CONFIDENCE = 0.95
ALPHA = 0.05


def _bootstrap(data: tuple[np.ndarray, ...], statistic: Any, paired: bool) -> tuple[float, float] | None:
    from scipy import stats

    n = len(data[0])
    if n < 2:
        return None
    kwargs: dict[str, Any] = dict(n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                                  vectorized=True, paired=paired, axis=-1)
    rng = np.random.default_rng(RESAMPLE_SEED)
    # scipy >= 1.15 takes `rng`; older releases `random_state`
    kwargs["rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"] = rng
    with np.errstate(divide="ignore", invalid="ignore"):
        ci = stats.bootstrap(data, statistic, **kwargs).confidence_interval
    low, high = float(ci.low), float(ci.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return low, high


def mean_ci(x: Sequence[float]) -> list[float] | None:
    """95% bootstrap interval of the mean of ``x`` (``None`` for fewer than 2 values)."""
    ci = _bootstrap((np.asarray(x, dtype=np.float64),), lambda a, axis: a.mean(axis), paired=False)
    return None if ci is None else list(ci)


def diff_ci(raw: Sequence[float], purified: Sequence[float]) -> list[float] | None:
    """95% paired bootstrap interval of ``mean(raw - purified)`` (positive: purification helped)."""
    d = np.asarray(raw, dtype=np.float64) - np.asarray(purified, dtype=np.float64)
    ci = _bootstrap((d,), lambda a, axis: a.mean(axis), paired=False)
    return None if ci is None else list(ci)


def gap_closed_ci(raw: Sequence[float], purified: Sequence[float], oracle: Sequence[float]) -> list[float] | None:
    """95% paired bootstrap interval of ``(mean raw - mean purified) / (mean raw - mean oracle)``."""
    r, p, o = (np.asarray(v, dtype=np.float64) for v in (raw, purified, oracle))

    def gap(a: np.ndarray, b: np.ndarray, c: np.ndarray, axis: int) -> np.ndarray:
        den = a.mean(axis) - c.mean(axis)
        return np.where(np.abs(den) > 1e-12, (a.mean(axis) - b.mean(axis)) / np.where(den == 0, 1, den), np.nan)

    if abs(r.mean() - o.mean()) <= 1e-9:
        return None
    ci = _bootstrap((r, p, o), gap, paired=True)
    return None if ci is None else list(ci)


def paired_test(raw: Sequence[float], purified: Sequence[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of raw vs purified errors of the same samples.

    ``None`` (no test) when every difference is zero: identical images cannot be tested.
    """
    from scipy import stats

    d = np.asarray(raw, dtype=np.float64) - np.asarray(purified, dtype=np.float64)
    if d.size == 0 or np.all(np.abs(d) < 1e-12):
        return None
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family: the non-``None`` entries), monotone, capped at 1."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    order = sorted(idx, key=lambda i: pvalues[i])  # type: ignore[arg-type,return-value]
    m = len(order)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def row_statistics(raw: np.ndarray, purified: np.ndarray, oracle: np.ndarray | None) -> dict[str, Any]:
    """Intervals and the paired test of one row (``p_holm``/``significant`` are set per record)."""
    return {
        "raw_mean_ci": mean_ci(raw),
        "purified_mean_ci": mean_ci(purified),
        "oracle_mean_ci": mean_ci(oracle) if oracle is not None else None,
        "diff_mean_deg": float(np.mean(raw - purified)) if len(raw) else None,
        "diff_mean_ci": diff_ci(raw, purified),
        "gap_closed_ci": gap_closed_ci(raw, purified, oracle) if oracle is not None else None,
        "p_value": paired_test(raw, purified),
    }


def correct_rows(rows: list[dict[str, Any]]) -> None:
    """Holm-correct the rows' ``p_value`` across the record; mark ``significant`` at 0.05."""
    for row, p in zip(rows, holm([r.get("p_value") for r in rows])):
        row["p_holm"] = p
        row["significant"] = None if p is None else bool(p < ALPHA)


def per_subject(raw: np.ndarray, purified: np.ndarray, subjects: np.ndarray) -> dict[str, Any]:
    """Mean raw and purified error per subject and how many subjects purification improved."""
    table = []
    for s in np.unique(subjects):
        sel = subjects == s
        table.append({"subject": int(s), "n": int(sel.sum()), "raw_mean_deg": float(raw[sel].mean()),
                      "purified_mean_deg": float(purified[sel].mean())})
    improved = sum(1 for t in table if t["purified_mean_deg"] < t["raw_mean_deg"])
    return {"subjects_improved": improved, "subjects_n": len(table), "per_subject": table}


_SUMMARY_KEYS = ("raw_mean_deg", "purified_mean_deg", "oracle_mean_deg", "gap_closed")


def seed_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per estimator/train/test/purifier across seeds: the mean of each row value and its
    seed-to-seed std (population; the sample spread is in each row's intervals, not here)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["estimator"], r["train"], r["test"], r["purifier"]), []).append(r)
    out = []
    for (est, train, test, pur), rs in groups.items():
        entry: dict[str, Any] = {"estimator": est, "train": train, "test": test, "purifier": pur,
                                 "n_seeds": len(rs), "seeds": [r.get("seed") for r in rs]}
        for k in _SUMMARY_KEYS:
            vals = [r[k] for r in rs if r.get(k) is not None]
            entry[k] = float(np.mean(vals)) if vals else None
            entry[f"{k}_seed_std"] = float(np.std(vals)) if len(vals) > 1 else None
        entry["significant_seeds"] = sum(1 for r in rs if r.get("significant"))
        out.append(entry)
    return out


__all__ = ["ALPHA", "CONFIDENCE", "N_RESAMPLES", "RESAMPLE_SEED", "correct_rows", "diff_ci", "gap_closed_ci",
           "holm", "mean_ci", "paired_test", "per_subject", "row_statistics", "seed_summary"]
