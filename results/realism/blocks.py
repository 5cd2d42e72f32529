"""The convnet's cue, measured: the layout of light and dark per 6x6 block, real vs candidates.

    python results/realism/blocks.py                       # real, version 2, c11 (tables)
    python results/realism/blocks.py --code 'W.update(side_pull=(0.9, 0.9))' --name mine

For the real patches 0:400 (the tuning split; 400:600 are never read) and 400 ``synth-wild``
``unlabelled`` renders (seed 0) under each candidate's code (as ``tune.py``: ``G``, ``W``, ``C``, ``B``, ``K``, ``T``
bound to the renderer's module constants), prints the per-block mean over images and the
per-block spread across images (std) of the 36x60 crops cut into 6x6 blocks of 6x6 pixels, the
quantiles of the signed left-right (left third - right third) and top-bottom (six top rows - six
bottom rows) differences and of the top edge (rows 0-1 - rows 3-6), and three distances to the
real set: RMS gap of the block means, RMS gap of the block spreads, RMS gap of the LR/TB quantiles (``score``, also used by ``fit_light.py``).
Renders only, no classifier: about 0.5 s per candidate.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REAL = Path(os.environ.get("GAZEBENCH_REAL", HERE.parents[1].parent / "shared/data/mpiigaze-unlabelled/eyes.npz"))
QUANTILES = (5, 25, 50, 75, 95)


def blocks(x: np.ndarray, k: int = 6) -> np.ndarray:
    """(N, H//k, W//k) means of k x k blocks; (N, 6, 10) for the (N, 36, 60) crops. A partial block
    at the bottom or right edge is dropped."""
    n, h, w = x.shape
    if h < k or w < k:
        raise ValueError(f"blocks of {k}x{k} need crops at least that large, got {x.shape}")
    return x[:, : h - h % k, : w - w % k].reshape(n, h // k, k, w // k, k).mean((2, 4))


def signed_lr(x: np.ndarray) -> np.ndarray:
    """Left third minus right third, per image (the issue's asymmetry, with its sign)."""
    t = x.shape[2] // 3
    return x[:, :, :t].mean((1, 2)) - x[:, :, -t:].mean((1, 2))


def signed_tb(x: np.ndarray) -> np.ndarray:
    """Six top rows minus six bottom rows, per image."""
    return x[:, :6].mean((1, 2)) - x[:, -6:].mean((1, 2))


def top_edge(x: np.ndarray) -> np.ndarray:
    """Rows 0-1 minus rows 3-6, per image: the brow bone over the crease (round 4's top edge)."""
    return x[:, 0:2].mean((1, 2)) - x[:, 3:7].mean((1, 2))


def score(real: np.ndarray, synth: np.ndarray) -> dict[str, float]:
    """RMS gaps of block means, block spreads and the signed LR/TB quantiles (levels)."""
    br, bs = blocks(real), blocks(synth)
    q = np.array(QUANTILES)
    lr = np.percentile(signed_lr(synth), q) - np.percentile(signed_lr(real), q)
    tb = np.percentile(signed_tb(synth), q) - np.percentile(signed_tb(real), q)
    return {"mean": float(np.sqrt(((bs.mean(0) - br.mean(0)) ** 2).mean())),
            "spread": float(np.sqrt(((bs.std(0) - br.std(0)) ** 2).mean())),
            "lr_tb": float(np.sqrt(((lr ** 2).mean() + (tb ** 2).mean()) / 2))}


#: the short names a candidate's code uses for the renderer's tables (versions.tables())
SHORT = {"GEOMETRY": "G", "WILD": "W", "CREASE": "C", "BROW_BONE": "B", "CHEEK": "K", "TONE": "T", "LID": "L", "EYE": "E"}


def constants() -> dict[str, dict]:
    """The renderer's module constants a candidate's code may change, by the names the code uses
    (``G`` latents.GEOMETRY, ``W`` wild.WILD, ``C`` render.CREASE, ``B`` render.BROW_BONE, ``K``
    render.CHEEK, ``T`` wild.TONE, ``L`` render.LID, ``E`` render.EYE)."""
    from gazebench_plugins.synth.versions import tables

    return {SHORT[name]: t for name, t in tables().items()}



def _v2_code() -> str:
    from gazebench_plugins.synth.versions import VERSION_2

    return "; ".join(f"{SHORT[t]}.update(" + ", ".join(f"{k}={v!r}" for k, v in e.items()) + ")"
                     for t, e in VERSION_2.items())


#: renderer version 2 as a candidate's code (the entries version 3 changed, from
#: ``gazebench_plugins.synth.versions.VERSION_2``): run like a candidate's, it renders version 2's
#: bytes (tests/test_realism_tools.py). The logs of rounds 2-13 call version 2 ``''`` (the defaults
#: then); measure it now with this code.
V2_CODE = _v2_code()


def render(code: str, n: int = 400, seed: int = 0, params: dict[str, Any] | None = None) -> np.ndarray:
    """400 ``unlabelled`` gray renders (``seed`` 0: the tuning split's) with ``code`` applied to fresh copies of the
    renderer's constants (restored afterwards, so candidates do not leak into each other)."""
    from gazebench.plugins import get_plugin_manager
    from gazebench.realism import load_set
    from gazebench_plugins.synth.versions import tables_restored

    with tables_restored():
        exec(code, dict(constants()))
        x, _ = load_set(get_plugin_manager(), "synth-wild", root=None, split="unlabelled", slice_=None, n=n,
                        size=(36, 60), seed=seed, params=dict(params or {}))
    return np.asarray(x, dtype=np.float64)


def summary(name: str, x: np.ndarray) -> dict[str, Any]:
    """The printed tables of one set."""
    b = blocks(x)
    return {"name": name, "block_mean": np.round(b.mean(0)).astype(int).tolist(),
            "block_spread": np.round(b.std(0)).astype(int).tolist(),
            "lr_quantiles": np.round(np.percentile(signed_lr(x), QUANTILES)).tolist(),
            "tb_quantiles": np.round(np.percentile(signed_tb(x), QUANTILES)).tolist(),
            "top_edge_quantiles": np.round(np.percentile(top_edge(x), QUANTILES)).tolist(),
            "top_rows_mean": round(float(x[:, 0:2].mean()))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--code", action="append", default=[], help="candidate code (repeatable)")
    p.add_argument("--name", action="append", default=[])
    p.add_argument("--candidates", default=str(HERE / "v3-candidates.jsonl"),
                   help="log to take c11's code from when no --code is given")
    args = p.parse_args()
    codes = list(zip(args.name or [f"code{i}" for i in range(len(args.code))], args.code))
    if not codes:
        c11 = next(json.loads(line)["code"] for line in open(args.candidates) if json.loads(line)["name"] == "c11")
        codes = [("v2", ""), ("c11", c11)]
    real = np.load(REAL)["images"][:400].astype(np.float64)
    for name, x in [("real 0:400", real)] + [(n, render(c)) for n, c in codes]:
        s = summary(name, x)
        print(f"## {name}")
        print("block mean (rows of 6 px, top first; columns of 6 px, left first):")
        print("\n".join(" ".join(f"{v:4d}" for v in row) for row in s["block_mean"]))
        print("block spread across images:")
        print("\n".join(" ".join(f"{v:4d}" for v in row) for row in s["block_spread"]))
        print(f"signed left-right quantiles {QUANTILES}: {s['lr_quantiles']}; top-bottom: {s['tb_quantiles']}")
        print(f"top edge (rows 0-1 minus rows 3-6) quantiles {QUANTILES}: {s['top_edge_quantiles']}; "
              f"rows 0-1 mean: {s['top_rows_mean']}")
        if x is not real:
            print("distance to real:", {k: round(v, 1) for k, v in score(real, x).items()})
        print()


if __name__ == "__main__":
    main()
