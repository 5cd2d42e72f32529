"""Plugin ``synth``: the embedded procedural eye renderer.

- datasets ``synth`` (clean, UnityEyes-like) and ``synth-wild`` (the same latent eyes as real
  outdoor webcam crops look; paired with ``synth``): exact gaze, head pose, region masks, pupil
  centre, subjects, any image size. The default data of ``gazebench run``.
- command ``gazebench render DATASET``: a labelled image grid of any dataset.

Targets are lazy strings and the command imports torch only when it runs, so listing plugins
stays fast. The model is documented in ``docs/renderer.md``.
"""

from gazebench.plugins import hookimpl

_PKG = "gazebench_plugins.synth"


@hookimpl
def gazebench_register_datasets(register):
    register("synth", f"{_PKG}.dataset:SynthEyes",
             summary="Embedded procedural eyes, clean UnityEyes-like style: exact gaze, masks, pupil, subjects.")
    register("synth-wild", f"{_PKG}.dataset:SynthEyesWild",
             summary="The same rendered eyes as real outdoor webcam crops look (paired with synth).")


@hookimpl
def gazebench_register_commands(cli):
    from gazebench_plugins.synth.cli import render_command

    cli.add_command(render_command)
