"""An example third-party gazebench plugin: registers the ``equalize`` purifier."""

from gazebench import hookimpl


@hookimpl
def gazebench_register_purifiers(register):
    register("equalize", "gazebench_example.equalize:EqualizePurifier",
             summary="Per-image histogram equalisation (example third-party plugin).")
