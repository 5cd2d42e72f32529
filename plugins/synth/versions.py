"""Earlier renderer versions' values of the module constants that later versions changed.

Version 3 (issue 18, round 13) moved defaults in five tables; :data:`VERSION_2` holds version 2's
values of exactly those entries, so that version 2's images can be rendered again (tests pin its
bytes) and the research scripts in ``results/realism`` can measure it beside the current version.
Setting them changes module state for every render that follows: use :func:`renderer_version`
(restores on exit) rather than editing the tables by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import latents, render, wild

#: table name -> {entry: version 2's value}; only the entries version 3 changed
VERSION_2: dict[str, dict[str, object]] = {
    "GEOMETRY": {"shift_y": (-1.0, 1.0), "crease_dark": (0.1, 0.45), "lash": (0.4, 1.0), "openness": (0.8, 1.1),
                 "iris_r": (5.6, 6.3)},
    "WILD": {"elevation_deg": (50.0, 85.0), "ambient": (0.05, 0.25), "diffuse": (0.65, 1.35),
             "iris_gain": (0.25, 0.42), "sclera_gain": (0.40, 0.77), "orbit_shade": (0.35, 0.8),
             "orbit_reach": (3.0, 3.0), "eye_fill": (0.0, 0.0), "read_noise": (1.5, 4.0), "shot_noise": (0.03, 0.12),
             "grain": (1.0, 2.5), "blur_px": (0.75, 1.3), "side_pull": (0.5, 0.5)},
    "TONE": {"exposure": 0.2, "exposure_sd": 0.25, "gamma_sd": 0.25, "contrast": 0.15},
    "CREASE": {"extent": 1.15, "texture": 0.05},
    "BROW_BONE": {"gain": 0.0, "follow": 0.0, "quantile": 0.8},
    "LID": {"hollow": 1.0, "sulcus": 0.0},
}


def tables() -> dict[str, dict]:
    """The renderer's tunable module constants by name (the objects themselves, not copies)."""
    return {"GEOMETRY": latents.GEOMETRY, "WILD": wild.WILD, "TONE": wild.TONE, "CREASE": render.CREASE,
            "BROW_BONE": render.BROW_BONE, "CHEEK": render.CHEEK, "LID": render.LID,
            "EYE": render.EYE}


@contextmanager
def tables_restored() -> Iterator[dict[str, dict]]:
    """The live tables (:func:`tables`), put back as they were when the block exits, whatever it changed."""
    live = tables()
    saved = {name: dict(t) for name, t in live.items()}
    try:
        yield live
    finally:
        for name, t in live.items():
            t.clear()
            t.update(saved[name])


@contextmanager
def renderer_version(version: str) -> Iterator[None]:
    """Render as ``version`` ("2" or "3", the current one) inside the block; the tables are restored after."""
    if version not in ("2", "3"):
        raise ValueError(f"renderer version {version!r}: this renderer can draw versions 2 and 3")
    with tables_restored() as live:
        if version == "2":
            for name, entries in VERSION_2.items():
                live[name].update(entries)
        yield
