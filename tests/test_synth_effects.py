"""synth-wild's effect families as a parameter (-o synth-wild.effects=light,blur)."""

from __future__ import annotations

import hashlib

import pytest
import torch

from gazebench_plugins.synth.dataset import SynthEyes, SynthEyesWild
from gazebench_plugins.synth.wild import EFFECTS, parse_effects


def _images(**kw) -> torch.Tensor:
    return SynthEyesWild(**kw).load("test", size=(36, 60), limit=24, seed=3).take().images


def test_default_is_every_family_and_the_bytes_did_not_change():
    # sha256 prefixes of these 24 images before effects became a parameter (same code path)
    want = {3: "22d11beaf12932dc", 1: "b3b9cc91141682b1"}
    for ch, digest in want.items():
        img = _images(channels=ch)
        assert hashlib.sha256(img.numpy().tobytes()).hexdigest()[:16] == digest
    assert torch.equal(_images(effects=",".join(EFFECTS)), _images())
    assert torch.equal(_images(effects=list(EFFECTS)), _images(effects="all"))


def test_no_effect_is_the_clean_paired_render():
    clean = SynthEyes().load("test", size=(36, 60), limit=24, seed=3).take().images
    assert torch.equal(_images(effects="none"), clean)
    assert torch.equal(_images(effects=""), clean)


def test_each_family_changes_the_images_and_leaves_the_others_draws_alone():
    none, full = _images(effects="none"), _images()
    alone = {fam: _images(effects=fam) for fam in ("light", "tone", "blur", "noise")}
    for fam, img in alone.items():
        assert not torch.equal(img, none), fam
        assert not torch.equal(img, full), fam
    # blur after light equals light then the blur it would have had (draws keyed per sample):
    # switching a family off must not reshuffle another family's random numbers
    both = _images(effects="light,blur")
    assert not torch.equal(both, alone["light"])
    assert torch.equal(_images(effects="blur,light"), both)


def test_effects_are_checked_and_parsed():
    assert parse_effects("all") == frozenset(EFFECTS)
    assert parse_effects(" Light, blur ") == {"light", "blur"}
    assert parse_effects("none") == frozenset()
    with pytest.raises(ValueError, match="unknown wild effect.*fog.*choose from"):
        SynthEyesWild(effects="light,fog").load("test", limit=2)
    # the oracle must be the same eyes whatever the effects
    assert "effects" not in SynthEyesWild(effects="light").paired_params()
