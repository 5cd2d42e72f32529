"""Plugin ``segmenters``: region masks (0 skin, 1 sclera, 2 iris, 3 pupil) for images without them.

- ``unet``: a small U-Net trained on a dataset's masks, with wild-condition augmentation.
- ``threshold``: a classical dark-blob pupil/iris detector with moment-ellipse fits; no training.

The dataset's own masks are ``gazebench run --masks dataset`` (alias ``--masks landmarks``); the class
:class:`gazebench_plugins.segmenters.landmarks.LandmarksSegmenter` exists but is not registered,
because it cannot segment bare images, which the segmenter contract (and its conformance check)
requires.
"""

from gazebench.plugins import hookimpl


@hookimpl
def gazebench_register_segmenters(register):
    register("threshold", "gazebench_plugins.segmenters.threshold:ThresholdSegmenter",
             summary="Classical dark-blob pupil/iris detector with moment-ellipse fits; no training.",
             needs_fit=False)
    register("unet", "gazebench_plugins.segmenters.unet:UNetSegmenter",
             summary="Small U-Net trained on a dataset's masks with wild-condition augmentation.",
             needs_fit=True)


@hookimpl
def gazebench_register_commands(cli):
    from gazebench_plugins.segmenters.evaluate import segment_eval

    cli.add_command(segment_eval)
