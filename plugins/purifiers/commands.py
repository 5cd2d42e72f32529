"""``gazebench train-purifier`` and ``gazebench purify`` (added by the ``purifiers`` plugin)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from gazebench.cli.options import (
    SizeType,
    dataset_option,
    device_option,
    seed_option,
    set_option,
)


def _load(pm: Any, name: str, split: str, size: tuple[int, int], n: int | None, seed: int,
          params: dict[str, dict[str, Any]], root: str | None = None) -> tuple[Any, Any]:
    from gazebench.stages import open_dataset

    ds, data = open_dataset(pm, name, split, size=size, limit=n, seed=seed, root=root, params=params.get(name, {}))
    return ds, data.take()


def _segmenters(pm: Any, sets: dict[str, dict[str, Any]], device: str) -> Any:
    from gazebench.stages import Segmenters

    return Segmenters(pm, sets, device, lambda m: click.echo(m, err=True))


_COMMON = [
    click.option("--purifier", "-p", required=True, help="Purifier name (see `gazebench plugins`)."),
    dataset_option("--style", default="synth", help="Style dataset (synthetic; its train split)."),
    click.option("--size", type=SizeType(minimum=1), default="36x60", show_default=True, help="Image size HxW."),
    click.option("--masks", default="auto", show_default=True,
                 help="auto/dataset, or a segmenter name (it segments the content and the images to purify "
                      "even where the dataset has masks; the style set keeps its own)."),
    seed_option(),
    device_option(),
    set_option(help="A component parameter, e.g. -o attention.iterations=500 (JSON values; the purifier's, "
                    "a dataset's or the segmenter's)."),
]


def _common(f: Any) -> Any:
    for opt in reversed(_COMMON):
        f = opt(f)
    return f


def _fit(pm: Any, purifier: str, content: str, style: str, size: tuple[int, int], masks: str, seed: int, device: str,
         sets: dict[str, dict[str, Any]], n_content: int, n_style: int, extra: dict[str, Any],
         content_root: str | None = None, style_root: str | None = None,
         segmenters: Any = None) -> tuple[Any, dict]:
    from gazebench.device import seed_everything
    from gazebench.stages import build

    pur = build(pm, "purifier", purifier, {**sets.get(purifier, {}), **extra}, device)
    splits = getattr(pm.spec("dataset", content).load(), "splits", ())
    c_split = "unlabelled" if "unlabelled" in splits or not splits else splits[0]
    _, c = _load(pm, content, c_split, size, n_content or None, seed, sets, content_root)
    _, s = _load(pm, style, "train", size, n_style or None, seed, sets, style_root)
    c = c.without_labels()
    if pur.needs_masks:
        filled, _ = (segmenters or _segmenters(pm, sets, device)).fill({"content": c, "style": s}, masks, s)
        c, s = filled["content"], filled["style"]
    seed_everything(seed)
    t0 = time.perf_counter()
    pur.fit(c, s)
    return pur, {"fit_seconds": time.perf_counter() - t0, "n_content": len(c), "n_style": len(s)}


@click.command("train-purifier")
@_common
@dataset_option("--content", default="synth-wild",
                help="Content dataset (real-style, unlabelled: its 'unlabelled' split, else its first).")
@click.option("--preset", default=None, help="Training preset of a feed-forward purifier: cpu or paper.")
@click.option("--n-content", type=click.IntRange(0), default=200, show_default=True, help="Content images (0: all).")
@click.option("--n-style", type=click.IntRange(0), default=1000, show_default=True, help="Style images (0: all).")
@click.option("--out", default=None, help="Checkpoint to write (default results/purifiers/NAME-CONTENT-STYLE.ckpt); "
                                          "training checkpoints go to OUT.partial and a rerun resumes from them.")
@click.option("--cudnn-benchmark", is_flag=True, help="On CUDA: let cuDNN time its algorithms for the fixed training "
                                                       "size (faster steps, no longer bit-reproducible).")
def train_purifier(purifier: str, style: str, style_root: str | None, size: tuple[int, int], masks: str, seed: int,
                   device: str, sets: dict[str, dict[str, Any]], content: str, content_root: str | None,
                   preset: str | None, n_content: int, n_style: int, out: str | None,
                   cudnn_benchmark: bool = False) -> None:
    """Fit a purifier on real-style content and synthetic style images; save it.

    Under torchrun the feed-forward purifiers (attention, johnson) train data-parallel: each of
    the N processes takes its share of every global batch (--preset's batch size, or -o
    NAME.batch_size) and of the style Grams, gradients are averaged (DistributedDataParallel;
    gloo on the CPU, nccl with one GPU per process), batch norm runs over the global batch, and
    only rank 0 writes the checkpoints. The result is the single-process training of that global
    batch, so either resumes the other's OUT.partial.

    \b
    Examples:
      gazebench train-purifier --purifier attention --content synth-wild --style synth
      gazebench train-purifier -p attention --preset paper --device cuda --size 256x256
      gazebench train-purifier -p attention -o attention.iterations=1000 -o attention.beta=3
      torchrun --nproc-per-node 4 -m gazebench train-purifier -p attention --preset paper \\
          -o attention.batch_size=16 --device cuda
    """
    from gazebench.device import resolve_device
    from gazebench.distributed import env_world_size, init_from_env, shutdown
    from gazebench.plugins import PluginError, get_plugin_manager
    from gazebench.stages import RunError

    pm = get_plugin_manager()
    path = Path(out or f"results/purifiers/{purifier}-{content}-{style}.ckpt")
    extra: dict[str, Any] = {}
    try:
        from gazebench.checks import check_output_file

        check_output_file(path, "--out")
        import inspect

        cls = pm.spec("purifier", purifier).load()
        if env_world_size() > 1 and not getattr(cls, "supports_ddp", False):
            raise click.ClickException(f"purifier {purifier!r} does not train data-parallel: run it without "
                                       "torchrun (the feed-forward purifiers attention and johnson do)")
        accepted = inspect.signature(cls).parameters
        if preset is not None:
            if "preset" not in accepted:
                raise click.ClickException(f"purifier {purifier!r} has no presets")
            extra["preset"] = preset
        if "checkpoint" in accepted:
            extra["checkpoint"] = str(path) + ".partial"
        # torchrun's WORLD_SIZE > 1: join the process group (this rank's GPU under CUDA)
        rank, dev = init_from_env(resolve_device(device))
        if cudnn_benchmark and dev.startswith("cuda"):
            from gazebench.device import cuda_settings

            cuda_settings(benchmark=True)
        pur, info = _fit(pm, purifier, content, style, size, masks, seed, dev, sets,
                         n_content, n_style, extra, content_root, style_root)
        if rank.is_main:
            pur.save(path)
    except (PluginError, RunError, ValueError, FileNotFoundError) as exc:
        # a failing rank exits; torchrun stops the others (no barrier here: they may be stuck)
        raise click.ClickException(str(exc)) from None
    shutdown()
    if not rank.is_main:
        return
    for note in pur.record_notes():
        click.echo(note, err=True)
    procs = f" over {rank.world} processes ({rank.backend})" if rank.enabled else ""
    click.echo(f"fitted {purifier} on {info['n_content']} {content} + {info['n_style']} {style} images "
               f"in {info['fit_seconds']:.1f} s{procs}; saved {path}")


@click.command("purify")
@_common
@click.option("--dataset", "-d", default="synth-wild", show_default=True, help="Dataset to purify.")
@click.option("--root", default=None, metavar="DIR", help="Folder of --dataset on disk (default $GAZEBENCH_DATA/<name>).")
@click.option("--split", default="test", show_default=True)
@click.option("--checkpoint", default=None, help="A checkpoint from train-purifier (one purifier only; else each "
                                                 "purifier is fitted here on the dataset's unlabelled split).")
@click.option("-n", "n", type=click.IntRange(0), default=16, show_default=True, help="Images to purify (0: all).")
@click.option("--n-content", type=click.IntRange(0), default=200, show_default=True, help="Content images to fit on.")
@click.option("--n-style", type=click.IntRange(0), default=1000, show_default=True, help="Style images to fit on.")
@click.option("--out", required=True, help="Folder: NAME/images/NNNNN.png, grid.png, metrics.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics (metrics.json) as JSON instead of a table.")
@click.option("--pupil-shift/--no-pupil-shift", "pupil_shift", default=True, show_default=True,
              help="Unpaired data: measure the segmenter's raw -> purified pupil shift and its floor (fits "
                   "a segmenter when no purifier needs one; --no-pupil-shift only writes the images).")
def purify(purifier: str, style: str, style_root: str | None, size: tuple[int, int], masks: str, seed: int,
           device: str, sets: dict[str, dict[str, Any]], dataset: str, root: str | None, split: str,
           checkpoint: str | None, n: int, n_content: int, n_style: int, out: str, as_json: bool = False,
           pupil_shift: bool = True) -> None:
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
    from gazebench_plugins.purifiers.evaluate import paired_metrics

    from gazebench.device import resolve_device
    from gazebench.io import write_json_atomic
    from gazebench.plugins import PluginError, get_plugin_manager
    from gazebench.stages import RunError, build, check_purified

    pm = get_plugin_manager()
    names = [v.strip() for v in purifier.split(",") if v.strip()]
    if checkpoint and len(names) != 1:
        raise click.ClickException("--checkpoint needs exactly one --purifier")
    folder = Path(out)
    try:
        from gazebench.checks import check_output_dir

        check_output_dir(folder, "--out")
        hw, dev = size, resolve_device(device)
        ds, batch = _load(pm, dataset, split, hw, n or None, seed, sets, root)
        _, style_batch = _load(pm, style, "train", hw, max(n_style, len(batch)), seed, sets, style_root)
        paired = getattr(ds, "paired_with", None) == style and batch.pair is not None and batch.masks is not None
        ref = style_batch.images[: len(batch)]
        if paired:
            from gazebench.stages import open_dataset

            _, pair_data = open_dataset(pm, style, split, size=hw, seed=seed,
                                        params={**sets.get(style, {}), **ds.paired_params()})
            ref = pair_data.batch(batch.pair.tolist()).images
        results, rows = {}, {}
        segmenters = _segmenters(pm, sets, dev)
        shift = None if paired or not pupil_shift else _ShiftProbe(segmenters, batch, style_batch, masks)
        for name in names:
            if checkpoint:
                pur = build(pm, "purifier", name, sets.get(name, {}), dev).load(checkpoint)
            else:
                pur, _ = _fit(pm, name, dataset, style, size, masks, seed, dev, sets, n_content, n_style, {},
                              root, style_root, segmenters)
            todo = segmenters.fill({"b": batch}, masks, style_batch)[0]["b"] if pur.needs_masks else batch
            t0 = time.perf_counter()
            images = pur.purify(todo.without_labels())
            secs = time.perf_counter() - t0
            check_purified(name, images, batch.images)
            write_images(folder / name, batch.images, images, ref)
            rows[name] = images
            if paired:
                results[name] = {**paired_metrics(batch.images, images, ref, batch.masks, batch.pupil),
                                 "purify_seconds_per_image": secs / len(batch),
                                 "notes": pur.record_notes()}
            elif shift is not None and shift.ready:
                results[name] = {**shift(images), "n": len(batch), "purify_seconds_per_image": secs / len(batch),
                                 "notes": pur.record_notes()}
            elif not pupil_shift:
                results[name] = {"n": len(batch), "purify_seconds_per_image": secs / len(batch),
                                 "notes": pur.record_notes()}
        write_grid(folder / "grid.png", [batch.images, *rows.values(), ref])
    except (PluginError, RunError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    metrics = {"dataset": dataset, "style": style, "split": split, "n": len(batch), "size": list(hw),
               "paired": paired, "purifiers": results}
    if shift is not None and shift.ready:
        metrics.update(segmenter=shift.name, pupil_seg_floor_px=shift.floor)
    if results:
        write_json_atomic(folder / "metrics.json", metrics)
    if as_json:
        import json

        click.echo(json.dumps(metrics, indent=2))
        return
    if results and paired:
        _print_metrics(results)
    elif results and shift is not None:
        _print_shift(results, shift.name, shift.floor)
    elif not pupil_shift:
        click.echo("pupil shift not measured (--no-pupil-shift)", err=True)
    elif shift is not None:
        click.echo(f"pupil shift not measured: {shift.why}", err=True)
    click.echo(f"wrote {folder}/<purifier>/images, {folder / 'grid.png'} (rows: raw, {', '.join(names)}, "
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


class _ShiftProbe:
    """Unpaired data (real eyes): does purification move the pupil? The pupil centroid that a
    segmenter finds on raw vs purified images (:func:`gazebench.metrics.segmenter_shift`), beside
    its noise floor: the same shift on a purely photometric control of the raw images, where
    nothing moved. A purifier near the floor kept the pupil as well as the segmenter can tell."""

    def __init__(self, segmenters: Any, batch: Any, style: Any, masks: str) -> None:
        from gazebench.metrics import photometric_control
        from gazebench.stages import RunError

        self.ready, self.why, self.floor = False, "", None
        self.name = masks if masks not in ("auto", "dataset", "landmarks") else segmenters.best()
        if self.name is None:
            self.why = "no segmenter is registered"
            return
        try:
            self.seg = segmenters.get(self.name, style, "for the pupil shift")
        except RunError as exc:
            self.why = str(exc)
            return
        self.raw_images = batch.images
        self.raw_labels = self.seg.segment(batch.images).cpu()
        self.floor = self._shift(photometric_control(batch.images))["mean"]
        self.ready = True

    def _shift(self, images: Any) -> dict[str, Any]:
        from gazebench.metrics import segmenter_shift, summarize

        return summarize(segmenter_shift(self.raw_labels, self.seg.segment(images).cpu()))

    def __call__(self, images: Any) -> dict[str, Any]:
        from gazebench.metrics import content_kept

        d = self._shift(images)
        return {"pupil_seg_shift_px": d["mean"], "pupil_seg_shift_std_px": d["std"], "pupil_seg_found": d["found"],
                **content_kept(self.raw_images, images)}


def _print_shift(results: dict[str, dict[str, Any]], segmenter: str, floor: float | None) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"pupil shift raw -> purified, found by segmenter {segmenter!r} (unpaired data)")
    for h in ("purifier", "shift px", "std px", "pupil found", "floor px (photometric control)",
              "corr with raw", "spread vs raw"):
        t.add_column(h, justify="right")
    fmt = (lambda v: "n/a" if v is None else f"{v:.2f}")
    for name, r in results.items():
        t.add_row(name, fmt(r["pupil_seg_shift_px"]), fmt(r["pupil_seg_shift_std_px"]),
                  f"{r['pupil_seg_found']:.0%}", fmt(floor), fmt(r["raw_corr"]), fmt(r["spread_ratio"]))
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
