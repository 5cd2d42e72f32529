"""``gazebench train-purifier`` and ``gazebench purify`` (added by the ``purifiers`` plugin)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from gazebench.cli.run_cmd import parse_size


def _parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"{item!r}: expected PARAM=VALUE, e.g. iterations=500")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _load(pm: Any, name: str, split: str, size: tuple[int, int], n: int | None, seed: int) -> Any:
    ds = pm.create("dataset", name)
    if split not in ds.splits:
        raise click.ClickException(f"dataset {name!r} has no split {split!r} (it has {', '.join(ds.splits)})")
    return ds, ds.load(split, size=size, limit=n, seed=seed).take()


def _with_masks(pm: Any, batch: Any, masks: str, train: Any, device: str) -> Any:
    """``batch`` with masks: its own, else those of the segmenter ``masks`` (fitted on ``train``)."""
    if batch.masks is not None and masks in ("auto", "dataset"):
        return batch
    if masks in ("auto", "dataset"):
        raise click.ClickException("the purifier needs region masks and the data has none: pass --masks "
                                   "unet or --masks threshold")
    seg = pm.create("segmenter", masks)
    if seg.needs_fit:
        if train.masks is None:
            raise click.ClickException(f"segmenter {masks!r} needs training masks and the style data has none")
        seg.fit(train)
    return batch.replace(masks=seg.segment(batch.images).cpu())


def _build(pm: Any, name: str, params: dict[str, Any], device: str) -> Any:
    import inspect

    factory = pm.spec("purifier", name).load()
    if "device" in inspect.signature(factory).parameters and "device" not in params:
        params = {**params, "device": device}
    return pm.create("purifier", name, **params)


_COMMON = [
    click.option("--purifier", "-p", required=True, help="Purifier name (see `gazebench plugins`)."),
    click.option("--style", default="synth", show_default=True, help="Style dataset (synthetic; its train split)."),
    click.option("--size", default="36x60", show_default=True, help="Image size HxW."),
    click.option("--masks", default="auto", show_default=True, help="auto/dataset, or a segmenter name."),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N, mps."),
    click.option("--set", "-o", "sets", multiple=True, metavar="PARAM=VALUE",
                 help="A constructor parameter of the purifier (JSON values), e.g. -o iterations=500."),
]


def _common(f: Any) -> Any:
    for opt in reversed(_COMMON):
        f = opt(f)
    return f


def _fit(pm: Any, purifier: str, content: str, style: str, size: str, masks: str, seed: int, device: str,
         sets: tuple[str, ...], n_content: int, n_style: int, extra: dict[str, Any]) -> tuple[Any, dict]:
    from gazebench.runner import resolve_device, seed_everything

    dev = resolve_device(device)
    pur = _build(pm, purifier, {**_parse_sets(sets), **extra}, dev)
    hw = parse_size(size, minimum=1)
    _, c = _load(pm, content, "unlabelled", hw, n_content or None, seed)
    _, s = _load(pm, style, "train", hw, n_style or None, seed)
    c = c.without_labels()
    if pur.needs_masks:
        c, s = _with_masks(pm, c, masks, s, dev), _with_masks(pm, s, masks, s, dev)
    seed_everything(seed)
    t0 = time.perf_counter()
    pur.fit(c, s)
    return pur, {"fit_seconds": time.perf_counter() - t0, "n_content": len(c), "n_style": len(s)}


@click.command("train-purifier")
@_common
@click.option("--content", default="synth-wild", show_default=True,
              help="Content dataset (real-style; its unlabelled split).")
@click.option("--preset", default=None, help="Training preset of a feed-forward purifier: cpu or paper.")
@click.option("--n-content", type=int, default=200, show_default=True, help="Content images (0: all).")
@click.option("--n-style", type=int, default=1000, show_default=True, help="Style images (0: all).")
@click.option("--out", default=None, help="Checkpoint to write (default results/purifiers/NAME-CONTENT-STYLE.ckpt); "
                                          "training checkpoints go to OUT.partial and a rerun resumes from them.")
def train_purifier(purifier: str, style: str, size: str, masks: str, seed: int, device: str, sets: tuple[str, ...],
                   content: str, preset: str | None, n_content: int, n_style: int, out: str | None) -> None:
    """Fit a purifier on real-style content and synthetic style images; save it.

    \b
    Examples:
      gazebench train-purifier --purifier attention --content synth-wild --style synth
      gazebench train-purifier -p attention --preset paper --device cuda --size 256x256
    """
    from gazebench.plugins import PluginError, get_plugin_manager

    pm = get_plugin_manager()
    path = Path(out or f"results/purifiers/{purifier}-{content}-{style}.ckpt")
    extra: dict[str, Any] = {}
    try:
        import inspect

        accepted = inspect.signature(pm.spec("purifier", purifier).load()).parameters
        if preset is not None:
            if "preset" not in accepted:
                raise click.ClickException(f"purifier {purifier!r} has no presets")
            extra["preset"] = preset
        if "checkpoint" in accepted:
            extra["checkpoint"] = str(path) + ".partial"
        pur, info = _fit(pm, purifier, content, style, size, masks, seed, device, sets, n_content, n_style, extra)
        pur.save(path)
    except (PluginError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for note in getattr(pur, "record_notes", lambda: [])():
        click.echo(note, err=True)
    click.echo(f"fitted {purifier} on {info['n_content']} {content} + {info['n_style']} {style} images "
               f"in {info['fit_seconds']:.1f} s; saved {path}")


@click.command("purify")
@_common
@click.option("--dataset", "-d", default="synth-wild", show_default=True, help="Dataset to purify.")
@click.option("--split", default="test", show_default=True)
@click.option("--checkpoint", default=None, help="A checkpoint from train-purifier (one purifier only; else each "
                                                 "purifier is fitted here on the dataset's unlabelled split).")
@click.option("-n", "n", type=int, default=16, show_default=True, help="Images to purify (0: all).")
@click.option("--n-content", type=int, default=200, show_default=True, help="Content images to fit on.")
@click.option("--n-style", type=int, default=1000, show_default=True, help="Style images to fit on.")
@click.option("--out", required=True, help="Folder: NAME/images/NNNNN.png, grid.png, metrics.json.")
def purify(purifier: str, style: str, size: str, masks: str, seed: int, device: str, sets: tuple[str, ...],
           dataset: str, split: str, checkpoint: str | None, n: int, n_content: int, n_style: int, out: str) -> None:
    """Purify a dataset's images; write them, a raw | purified... | reference grid, and metrics.

    PURIFIER may be a comma-separated list; -o NAME.PARAM=VALUE sets one purifier's parameter.
    When the dataset is paired with --style (synth-wild with synth), the table gives PSNR/SSIM
    of raw and purified images against the paired clean renders and the pupil shift
    (gazebench_plugins.purifiers.evaluate).

    \b
    Examples:
      gazebench purify -p reinhard -d synth-wild --out purified/
      gazebench purify -p identity,reinhard,attention -n 200 --out cmp/
    """
    from gazebench.io import write_json_atomic
    from gazebench.plugins import PluginError, get_plugin_manager
    from gazebench.runner import resolve_device
    from gazebench_plugins.purifiers.evaluate import paired_metrics

    pm = get_plugin_manager()
    names = [v.strip() for v in purifier.split(",") if v.strip()]
    if checkpoint and len(names) != 1:
        raise click.ClickException("--checkpoint needs exactly one --purifier")
    root = Path(out)
    try:
        hw, dev = parse_size(size, minimum=1), resolve_device(device)
        ds, batch = _load(pm, dataset, split, hw, n or None, seed)
        _, style_batch = _load(pm, style, "train", hw, max(n_style, len(batch)), seed)
        paired = getattr(ds, "paired_with", None) == style and batch.pair is not None and batch.masks is not None
        ref = style_batch.images[: len(batch)]
        if paired:
            _, pair_data = _load(pm, style, split, hw, None, seed)
            ref = pair_data.images[batch.pair]
        results, rows = {}, {}
        for name in names:
            own = {k.split(".", 1)[1] if "." in k else k: v for k, v in _parse_sets(sets).items()
                   if "." not in k or k.split(".", 1)[0] == name}
            if checkpoint:
                pur = _build(pm, name, own, dev).load(checkpoint)
            else:
                own_sets = tuple(f"{k}={json.dumps(v)}" for k, v in own.items())
                pur, _ = _fit(pm, name, dataset, style, size, masks, seed, device, own_sets, n_content, n_style, {})
            todo = _with_masks(pm, batch, masks, style_batch, dev) if pur.needs_masks else batch
            t0 = time.perf_counter()
            images = pur.purify(todo.without_labels())
            secs = time.perf_counter() - t0
            write_images(root / name, batch.images, images, ref)
            rows[name] = images
            if paired:
                results[name] = {**paired_metrics(batch.images, images, ref, batch.masks, batch.pupil),
                                 "purify_seconds_per_image": secs / len(batch),
                                 "notes": getattr(pur, "record_notes", lambda: [])()}
        write_grid(root / "grid.png", [batch.images, *rows.values(), ref])
    except (PluginError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if results:
        write_json_atomic(root / "metrics.json", {"dataset": dataset, "style": style, "split": split,
                                                  "n": len(batch), "size": list(hw), "purifiers": results})
        _print_metrics(results)
    click.echo(f"wrote {root}/<purifier>/images, {root / 'grid.png'} (rows: raw, {', '.join(names)}, "
               f"{'paired ' + style if paired else style + ' samples'})")


def _print_metrics(results: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="purified vs paired clean renders")
    for h in ("purifier", "PSNR raw", "PSNR purified", "SSIM raw", "SSIM purified", "pupil err px raw",
              "pupil err px purified", "pupil err px oracle", "centroid shift px (biased)"):
        t.add_column(h, justify="right")

    def f(v: Any, d: int = 2) -> str:
        return "n/a" if v is None else f"{v:.{d}f}"

    for name, r in results.items():
        t.add_row(name, f(r["raw_psnr_db"]), f(r["purified_psnr_db"]), f(r["raw_ssim"], 3),
                  f(r["purified_ssim"], 3), f(r.get("pupil_err_raw_px")), f(r.get("pupil_err_purified_px")),
                  f(r.get("pupil_err_oracle_px")), f(r["pupil_shift_px_mean"]))
    Console().print(t)


def write_images(out: Path, raw: Any, purified: Any, style: Any, grid_n: int = 8) -> int:
    """Write ``out/images/NNNNN.png`` and ``out/grid.png`` (rows: raw, purified, style)."""
    from PIL import Image

    from gazebench.io import atomic_path

    (out / "images").mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(purified):
        arr = img.permute(1, 2, 0).numpy()
        with atomic_path(out / "images" / f"{i:05d}.png") as tmp:
            Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(tmp, format="PNG")
    write_grid(out / "grid.png", [raw, purified, style], grid_n)
    return len(purified)


def write_grid(path: Path, rows: list[Any], grid_n: int = 8) -> None:
    """A PNG with one row of ``grid_n`` images per tensor in ``rows``, upscaled 4x."""
    import numpy as np
    from PIL import Image

    from gazebench.io import atomic_path
    from gazebench.types import to_rgb

    k = min([grid_n] + [len(r) for r in rows])
    grid = np.concatenate([np.concatenate(list(to_rgb(t[:k]).permute(0, 2, 3, 1).numpy()), 1) for t in rows], 0)
    with atomic_path(path) as tmp:
        Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(tmp, format="PNG")
