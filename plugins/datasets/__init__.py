"""Plugin ``datasets``: real dataset loaders in their published layouts, and ``gazebench data``.

Every loader takes its root from ``--train-root``/``--test-root`` (``gazebench run``),
``--root`` (``gazebench data prepare``), else ``$GAZEBENCH_DATA/<name>``; constructor parameters
come from ``-o NAME.PARAM=VALUE``. Layouts, sources and licenses: ``docs/datasets.md``.
Registration is lazy (strings), so ``gazebench plugins`` imports none of the loaders.
"""

from gazebench.plugins import hookimpl

_PKG = "gazebench_plugins.datasets"


@hookimpl
def gazebench_register_datasets(register):
    register("mpiigaze", f"{_PKG}.mpiigaze:MPIIGaze",
             summary="MPIIGaze normalised eye patches (real, 15 subjects, 36x60); leave-one-subject-out folds.")
    register("unityeyes", f"{_PKG}.unityeyes:UnityEyes",
             summary="UnityEyes renders (N.jpg + N.json), cropped like GazeML, masks from landmarks.")
    register("utview", f"{_PKG}.utview:UTMultiview",
             summary="UT Multiview eye images (50 subjects; synthesised or real views), csv + zip.")
    register("syntheseyes", f"{_PKG}.syntheseyes:SynthesEyes",
             summary="SynthesEyes renders (png + pkl) with landmark masks.")
    register("lpw", f"{_PKG}.lpw:LPW",
             summary="Labelled Pupils in the Wild: real IR eye-video frames with pupil centres, no gaze.")
    register("folder", f"{_PKG}.folder:ImageFolder",
             summary="Any folder of images, unlabelled (purifier content/style, COCO val).")
    register("npz", f"{_PKG}.npz:NpzDataset",
             summary="Prepared arrays written by `gazebench data prepare` (or any .npz with 'images').")


@hookimpl
def gazebench_register_commands(cli):
    from gazebench_plugins.datasets.cli import data

    cli.add_command(data)
