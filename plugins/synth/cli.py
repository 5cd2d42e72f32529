"""``gazebench render``: a labelled image grid of any dataset, to look at what the data is.

Imports nothing heavy at import time: the command is registered on every ``gazebench`` start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gazebench.cli.options import SizeType, seed_option, set_option

_MASK_RGB = {1: (70, 130, 255), 2: (40, 220, 90), 3: (255, 60, 60)}   # sclera, iris, pupil


def make_grid(batch: Any, *, cols: int = 8, zoom: int | None = None, masks: bool = False,
              arrows: bool = False, first_index: int = 0) -> Any:
    """A PIL image: one zoomed tile per sample, captioned with index, subject, pitch and yaw.

    Args:
        batch: an :class:`~gazebench.types.EyeBatch`.
        cols: tiles per row.
        zoom: integer upscaling of each tile (``None``: tiles about 180 px wide).
        masks: tint the region masks (blue sclera, green iris, red pupil) and mark the pupil centre.
        arrows: draw the gaze as an arrow from the pupil centre (image-plane part of the vector).
        first_index: the index of the first sample, for the captions.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    from gazebench.geometry import vector_to_pitchyaw
    from gazebench.types import to_rgb

    n = len(batch)
    h, w = batch.size
    zoom = zoom or max(1, round(180 / w))
    tw, th = w * zoom, h * zoom
    cap = 14
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    canvas = Image.new("RGB", (cols * (tw + 4) + 4, rows * (th + cap + 4) + 4), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    imgs = to_rgb(batch.images).permute(0, 2, 3, 1).numpy()
    py = None if batch.gaze is None else np.degrees(vector_to_pitchyaw(batch.gaze.double()).numpy())
    for i in range(n):
        tile = imgs[i].astype(np.float32)
        if masks and batch.masks is not None:
            m = batch.masks[i].numpy()
            for label, rgb in _MASK_RGB.items():
                sel = m == label
                tile[sel] = 0.55 * tile[sel] + 0.45 * np.array(rgb, np.float32)
        x0 = 4 + (i % cols) * (tw + 4)
        y0 = 4 + (i // cols) * (th + cap + 4)
        canvas.paste(Image.fromarray(tile.round().clip(0, 255).astype(np.uint8)).resize((tw, th), Image.NEAREST),
                     (x0, y0))
        if batch.pupil is not None and (masks or arrows):
            # pixel centres: tile coordinate = (x + 0.5) * zoom
            cxp = x0 + (float(batch.pupil[i, 0]) + 0.5) * zoom
            cyp = y0 + (float(batch.pupil[i, 1]) + 0.5) * zoom
            if masks:
                draw.line([(cxp - 4, cyp), (cxp + 4, cyp)], fill=(255, 255, 0))
                draw.line([(cxp, cyp - 4), (cxp, cyp + 4)], fill=(255, 255, 0))
            if arrows and batch.gaze is not None:
                g = batch.gaze[i].tolist()
                length = 0.45 * tw
                ex, ey = cxp + g[0] * length, cyp + g[1] * length
                draw.line([(cxp, cyp), (ex, ey)], fill=(255, 220, 0), width=2)
                ang = np.arctan2(ey - cyp, ex - cxp)
                for da in (2.6, -2.6):
                    draw.line([(ex, ey), (ex + 7 * np.cos(ang + da), ey + 7 * np.sin(ang + da))],
                              fill=(255, 220, 0), width=2)
        text = f"#{first_index + i}"
        if batch.subject is not None:
            text += f" s{int(batch.subject[i])}"
        if py is not None:
            text += f" p{py[i, 0]:+.0f} y{py[i, 1]:+.0f}"
        draw.text((x0 + 1, y0 + th + 1), text, fill=(230, 230, 230))
    return canvas


@click.command("render")
@click.argument("dataset")
@click.option("-n", "count", type=int, default=32, show_default=True, help="Samples to show.")
@click.option("--size", type=SizeType(), default="36x60", show_default=True, help="Image size HxW to load the data at.")
@click.option("--out", default="grid.png", show_default=True, help="PNG file to write.")
@click.option("--masks", is_flag=True, help="Tint the region masks (blue sclera, green iris, red pupil), "
                                            "mark the pupil centre.")
@click.option("--arrows", is_flag=True, help="Draw each gaze as an arrow from the pupil centre.")
@click.option("--split", default="train", show_default=True, help="Split to draw from.")
@seed_option(help="Dataset seed.")
@click.option("--start", type=int, default=0, show_default=True, help="Index of the first sample.")
@click.option("--cols", type=int, default=8, show_default=True, help="Tiles per row.")
@click.option("--zoom", type=int, default=None, help="Integer zoom of each tile (default: ~180 px wide).")
@click.option("--root", default=None, help="Folder of a dataset that lies on disk.")
@set_option(help="A dataset parameter, e.g. -o synth-wild.severity=2 (values parse as JSON).")
def render_command(dataset: str, count: int, size: tuple[int, int], out: str, masks: bool, arrows: bool,
                   split: str, seed: int, start: int, cols: int, zoom: int | None, root: str | None,
                   sets: dict[str, dict]) -> None:
    """Write a labelled image grid of DATASET (any registered dataset) to a PNG.

    Each tile is captioned with its index, subject, and gaze pitch/yaw in degrees.

    \b
    Examples:
      gazebench render synth -n 32 --size 36x60 --out grid.png
      gazebench render synth-wild -n 16 --size 128x128 --masks --arrows --out wild.png
      gazebench render synth-wild -o synth-wild.severity=2 --split test --seed 3
    """
    from gazebench.io import atomic_path
    from gazebench.plugins import PluginError, get_plugin_manager

    hw = size
    other = sorted(set(sets) - {dataset})
    if other:
        raise click.BadParameter(f"-o names {', '.join(other)} but the dataset is {dataset!r}", param_hint="-o/--set")
    if count < 1:
        raise click.BadParameter(f"{count}: show at least one sample", param_hint="-n")
    if start < 0:
        raise click.BadParameter(f"{start}: the first index must be >= 0", param_hint="--start")
    if zoom is not None and zoom < 1:
        raise click.BadParameter(f"{zoom}: zoom must be >= 1", param_hint="--zoom")
    if not out.lower().endswith(".png"):
        raise click.BadParameter(f"{out!r}: the grid is written as PNG; name it *.png", param_hint="--out")
    try:
        ds = get_plugin_manager().create("dataset", dataset, **sets.get(dataset, {}))
        if split not in ds.splits:
            raise ValueError(f"dataset {dataset!r} has no split {split!r}; choose one of {', '.join(ds.splits)}")
        data = ds.load(split, root=root, size=hw, limit=start + count, seed=seed)
        if len(data) <= start:
            raise ValueError(f"dataset {dataset!r} split {split!r} has only {len(data)} samples; "
                             f"--start {start} is past its end")
        batch = data.batch(range(start, len(data)))
    except (PluginError, ValueError, FileNotFoundError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    notes = []
    if masks and batch.masks is None:
        notes.append(f"{dataset} has no masks")
    if arrows and (batch.gaze is None or batch.pupil is None):
        notes.append(f"{dataset} has no gaze or pupil centre to draw arrows from")
    grid = make_grid(batch, cols=cols, zoom=zoom, masks=masks, arrows=arrows, first_index=start)
    path = Path(out)
    with atomic_path(path) as tmp:
        grid.save(tmp, format="PNG")
    click.echo(f"wrote {path} ({len(batch)} samples of {dataset}/{split} at {hw[0]}x{hw[1]}, "
               f"{grid.width}x{grid.height} px)" + (f"; note: {'; '.join(notes)}" if notes else ""))
