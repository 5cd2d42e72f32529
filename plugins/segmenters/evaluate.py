"""``gazebench segment-eval``: mean IoU per region of segmenters on a dataset with masks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from gazebench.cli.options import set_option

if TYPE_CHECKING:  # torch loads only when a command runs: `gazebench plugins` stays fast
    import torch


def region_iou(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float | None]:
    """IoU of each region label over the whole set (None where the label occurs in neither)."""
    from gazebench.types import REGIONS

    out: dict[str, float | None] = {}
    for label, name in REGIONS.items():
        a, b = pred == label, true == label
        union = int((a | b).sum())
        out[name] = float((a & b).sum()) / union if union else None
    return out


def pupil_error(pred: torch.Tensor, true_pupil: torch.Tensor) -> float | None:
    """Mean distance (px) between the centroid of the predicted pupil and the true centre."""
    import torch

    m = (pred == 3).double()
    n, h, w = m.shape
    area = m.sum((1, 2))
    xs = (m * torch.arange(w, dtype=torch.float64).view(1, 1, w)).sum((1, 2)) / area
    ys = (m * torch.arange(h, dtype=torch.float64).view(1, h, 1)).sum((1, 2)) / area
    d = (torch.stack([xs, ys], 1) - true_pupil.double()).norm(dim=1)
    ok = torch.isfinite(d)
    return float(d[ok].mean()) if ok.any() else None


@click.command("segment-eval")
@click.option("--segmenter", "-s", default="threshold,unet", show_default=True,
              help="Segmenter name(s), comma-separated.")
@click.option("--train", default="synth", show_default=True, help="Dataset (with masks) to fit on.")
@click.option("--test", default="synth-wild", show_default=True, help="Dataset (with masks) to score on.")
@click.option("--n-train", type=int, default=1000, show_default=True)
@click.option("--n-test", type=int, default=200, show_default=True)
@click.option("--size", default="36x60", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one object per segmenter as JSON instead of a table.")
@set_option("A constructor parameter of a segmenter or dataset, e.g. -o unet.seed=1 -o unet.augment=basic "
            "(values parse as JSON; repeat for more).")
def segment_eval(segmenter: str, train: str, test: str, n_train: int, n_test: int, size: str, seed: int,
                 as_json: bool = False, sets: dict[str, dict[str, Any]] | None = None) -> None:
    """Fit segmenters on TRAIN's masks and print mean IoU per region on TEST.

    \b
    Example:
      gazebench segment-eval -s threshold,unet --train synth --test synth-wild
      gazebench segment-eval -s unet -o unet.seed=1 -o unet.augment=basic

    ``--seed`` draws the data; a segmenter's own seed is ``-o NAME.seed=N``.
    """
    import torch
    from rich.console import Console
    from rich.table import Table

    from gazebench.types import REGIONS

    from gazebench.plugins import PluginError, get_plugin_manager

    pm = get_plugin_manager()
    try:
        hw = tuple(int(v) for v in size.lower().split("x"))
        sets = sets or {}
        names = [s.strip() for s in segmenter.split(",") if s.strip()]
        stray = set(sets) - set(names) - {train, test}
        if stray:
            raise click.UsageError(f"-o names {', '.join(sorted(stray))}, which is neither a segmenter nor a dataset here")
        tr = pm.create("dataset", train, **sets.get(train, {})).load("train", size=hw, limit=n_train, seed=seed).take()
        te = pm.create("dataset", test, **sets.get(test, {})).load("test", size=hw, limit=n_test, seed=seed).take()
        if tr.masks is None or te.masks is None:
            raise click.ClickException(f"{train} and {test} must both have masks")
        rows: list[list[Any]] = []
        for name in names:
            seg = pm.create("segmenter", name, **sets.get(name, {}))
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            seg.fit(tr)
            fit_s = time.perf_counter() - t0
            pred = seg.segment(te.images)
            iou = region_iou(pred, te.masks)
            err = pupil_error(pred, te.pupil) if te.pupil is not None else None
            rows.append([name, *[iou[r] for r in REGIONS.values()], err, fit_s])
    except (PluginError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        import json

        keys = ["segmenter", *[f"iou_{r}" for r in REGIONS.values()], "pupil_centre_err_px", "fit_seconds"]
        click.echo(json.dumps({"train": train, "test": test, "n_train": len(tr), "n_test": len(te), "params": sets,
                               "rows": [dict(zip(keys, r)) for r in rows]}, indent=2))
        return
    table = Table(title=f"mean IoU per region on {len(te)} {test} images (fitted on {len(tr)} {train})")
    for h in ("segmenter", *REGIONS.values(), "pupil centre err px", "fit s"):
        table.add_column(h, justify="right")
    for r in rows:
        table.add_row(r[0], *["n/a" if v is None else f"{v:.3f}" for v in r[1:5]],
                      "n/a" if r[5] is None else f"{r[5]:.2f}", f"{r[6]:.1f}")
    Console().print(table)
