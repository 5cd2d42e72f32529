"""Scoring: per-sample angular errors of an estimator on raw, purified and oracle test images,
the rows of a run, their intervals and tests (:mod:`gazebench.stats`), and the per-sample arrays
kept beside the record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gazebench import stats
from gazebench.progress import stage
from gazebench.stages import Context, RunError, TestData

if TYPE_CHECKING:
    from gazebench.types import EyeBatch

#: per-sample arrays of one row in the sidecar: ``r<index>_<name>``
SAMPLE_ARRAYS = ("raw", "purified", "oracle", "ids", "subject")


def errors(est: Any, batch: "EyeBatch", truth: Any) -> np.ndarray:
    """Per-sample angular errors (degrees, float64) of ``est`` on ``batch`` against gaze ``truth``."""
    import torch

    from gazebench.geometry import angular_error_deg

    pred = torch.as_tensor(est.predict(batch.without_labels()), dtype=torch.float32).cpu()
    if pred.shape != (len(batch), 3) or not bool(torch.isfinite(pred).all()):
        raise RunError(f"estimator {est.name!r} returned {tuple(pred.shape)} predictions "
                       f"(finite: {bool(torch.isfinite(pred).all())}); expected finite ({len(batch)}, 3)")
    return angular_error_deg(pred.double(), truth.double()).cpu().numpy().astype(np.float64)


def score(ctx: Context, est: Any, est_stats: dict[str, Any], data: TestData,
          purified: dict[str, "EyeBatch"], pur_stats: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per purifier: the estimator's error on raw, purified and oracle test images.

    Each row keeps its per-sample errors under ``_samples`` until :func:`finish_rows` moves them
    to the sidecar.
    """
    from gazebench.geometry import error_summary
    from gazebench.metrics import PUPIL_ROW_FIELDS

    test = data.test
    with stage(ctx.log, f"predicting raw test with {est.name}") as st:
        raw_e = errors(est, test, test.gaze)
    est_stats["predict_seconds_per_image"] = st["seconds"] / len(test)
    orc_e = errors(est, data.oracle, test.gaze) if data.oracle is not None else None
    raw, orc = error_summary(raw_e), (error_summary(orc_e) if orc_e is not None else None)
    ids = test.pair.cpu().numpy() if test.pair is not None else np.arange(len(test))
    subject = test.subject.cpu().numpy() if test.subject is not None else None
    rows = []
    for pname, batch in purified.items():
        pur_e = errors(est, batch, test.gaze)
        pur = error_summary(pur_e)
        gap = None
        if orc is not None and abs(raw["mean_deg"] - orc["mean_deg"]) > 1e-9:
            gap = (raw["mean_deg"] - pur["mean_deg"]) / (raw["mean_deg"] - orc["mean_deg"])
        row = {
            "estimator": est.name, "train": est_stats["train"], "test": ctx.cfg.test, "purifier": pname,
            "n_train": data.info["train"][est_stats["train"]]["n"], "n_test": len(test),
            "raw_mean_deg": raw["mean_deg"], "raw_median_deg": raw["median_deg"], "raw_std_deg": raw["std_deg"],
            "purified_mean_deg": pur["mean_deg"], "purified_median_deg": pur["median_deg"],
            "purified_std_deg": pur["std_deg"],
            "oracle_mean_deg": orc["mean_deg"] if orc else None,
            "oracle_median_deg": orc["median_deg"] if orc else None,
            "gap_closed": gap,
            **{k: pur_stats[pname].get(k) for k in PUPIL_ROW_FIELDS},
            "raw_curve": raw["curve"], "purified_curve": pur["curve"],
            "oracle_curve": orc["curve"] if orc else None,
            "seed": ctx.cfg.seed,
            **stats.row_statistics(raw_e, pur_e, orc_e),
        }
        if subject is not None:
            row.update(stats.per_subject(raw_e, pur_e, subject))
        row["_samples"] = {"raw": raw_e, "purified": pur_e, "oracle": orc_e, "ids": ids, "subject": subject}
        rows.append(row)
    return rows


def finish_rows(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Holm-correct the rows' tests across the record and move their per-sample errors out:
    returns the sidecar arrays ``r<i>_raw``, ``r<i>_purified``, ``r<i>_oracle``, ``r<i>_ids``,
    ``r<i>_subject`` (where present); each row gets ``samples_index`` = i."""
    stats.correct_rows(rows)
    arrays: dict[str, np.ndarray] = {}
    for i, row in enumerate(rows):
        for name, values in row.pop("_samples", {}).items():
            if values is not None:
                arrays[f"r{i}_{name}"] = np.asarray(values)
        row["samples_index"] = i
    return arrays


__all__ = ["SAMPLE_ARRAYS", "errors", "finish_rows", "score"]
