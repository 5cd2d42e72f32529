"""Plugin ``purifiers``: the paper's attention-guided network and the baselines.

- ``attention``: the paper's feed-forward network (RGB-mask input, attention subnet, four
  residual blocks) trained on the region-level task-guided loss (the paper's eq. 7-20).
- ``johnson``: Johnson et al.'s transformation network on the VGG-16 perceptual loss.
- ``gatys``: per-image projected L-BFGS (Gatys et al.); scores any image on the paper's objective.
- ``reinhard``: Lab colour statistics transfer (Reinhard et al.).

It also adds the commands ``gazebench train-purifier``, ``gazebench purify`` and
``gazebench style-compare`` (the paper's Fig. 4).
"""

from gazebench.plugins import hookimpl


@hookimpl
def gazebench_register_purifiers(register):
    register("attention", "gazebench_plugins.purifiers.feedforward:AttentionPurifier",
             summary="The paper's attention-guided feed-forward network on the region-level loss (needs masks).",
             needs_fit=True, needs_masks=True)
    register("johnson", "gazebench_plugins.purifiers.feedforward:JohnsonPurifier",
             summary="Johnson et al.'s transformation network (5 residual blocks) on the VGG-16 perceptual loss.",
             needs_fit=True, needs_masks=False)
    register("gatys", "gazebench_plugins.purifiers.gatys:GatysPurifier",
             summary="Gatys et al.: per-image projected L-BFGS from noise (slow; 500 iterations by default).",
             needs_fit=True, needs_masks=False)
    register("reinhard", "gazebench_plugins.purifiers.reinhard:ReinhardPurifier",
             summary="Reinhard et al.: Lab colour statistics transfer towards the style set.",
             needs_fit=True, needs_masks=False)


@hookimpl
def gazebench_register_commands(cli):
    from gazebench_plugins.purifiers import commands, stylecompare

    cli.add_command(commands.train_purifier)
    cli.add_command(commands.purify)
    cli.add_command(stylecompare.style_compare)
