"""``gazebench data``: dataset commands added by the ``datasets`` plugin.

``gazebench data prepare NAME --root R --out FILE.npz`` reads any registered dataset (in its
published layout) once and writes the ``npz`` format, which the ``npz`` dataset loads back in a
second. Nothing here imports torch until a command runs.
"""

from __future__ import annotations

import click

from gazebench.cli.options import SizeType, seed_option, set_option


@click.group("data")
def data() -> None:
    """Dataset tools: convert a dataset on disk into a fast .npz cache."""


@data.command("prepare")
@click.argument("name")
@click.option("--root", default=None, help="The dataset's folder (default $GAZEBENCH_DATA/NAME).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .npz file to write.")
@click.option("--split", default=None, help="Split to read (default: the dataset's first).")
@click.option("--size", type=SizeType(minimum=1), default=None, help="Image size HxW (default: the dataset's own).")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many samples (a seeded random subset).")
@seed_option(help="Seed of the subset.")
@set_option(help="A constructor parameter of the dataset, e.g. -o mpiigaze.subjects=[0,1] (JSON values).")
def prepare(name: str, root: str | None, out: str, split: str | None, size: tuple[int, int] | None,
            limit: int | None, seed: int, sets: dict[str, dict]) -> None:
    """Read dataset NAME once and write it as a .npz that `--train npz --train-root FILE` loads.

    \b
    Examples:
      gazebench data prepare mpiigaze --root ~/data/MPIIGaze --split test --out mpii-test.npz
      gazebench data prepare unityeyes --root ~/UnityEyes/imgs --limit 20000 --out ue20k.npz
    """
    from gazebench.plugins import PluginError, get_plugin_manager

    from .npz import write_npz

    params = sets
    unknown = sorted(set(params) - {name})
    if unknown:
        raise click.BadParameter(f"-o names {', '.join(unknown)} but the dataset is {name!r}", param_hint="--set")
    try:
        dataset = get_plugin_manager().create("dataset", name, **params.get(name, {}))
        split = split or dataset.splits[0]
        data_ = dataset.load(split, root=root, size=size, limit=limit, seed=seed)
        batch = _read_all(data_)
        info = {**data_.info, "n": len(batch), "params": dataset.get_params()}
        path = write_npz(out, batch, info)
    except (PluginError, ValueError, FileNotFoundError, ImportError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {len(batch)} samples ({batch.channels}x{batch.size[0]}x{batch.size[1]}) of "
               f"{name}/{split} to {path}; skipped {info.get('skipped', 0)}", err=True)


def _read_all(data_: object) -> object:
    """Every sample of ``data_`` as one batch, with a progress bar on stderr."""
    from gazebench.progress import progress
    from gazebench.types import EyeBatch

    n = len(data_)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("the dataset selection is empty")
    chunk = 256
    parts = []
    with progress(n, "reading samples") as advance:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            parts.append(data_.batch(range(start, stop)))  # type: ignore[attr-defined]
            advance(stop - start)
    return EyeBatch.concat(parts)
