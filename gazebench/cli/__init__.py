"""The ``gazebench`` command line: one module per subcommand; plugins may add their own.

Nothing here imports torch: each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys

import click

from gazebench import __version__
from gazebench import plugins as plugins_mod
from gazebench.plugins import PluginError, get_plugin_manager


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gazebench")
def cli() -> None:
    """gazebench: purify real eye images into the synthetic style, then measure gaze error.

    \b
    Examples (tests/test_report_html.py runs each, in this order):
      gazebench plugins                                # what is installed
      gazebench run -p identity,reinhard -e mean,alr --out run.json
      gazebench report run.json                        # Table 2; --format csv, latex
      gazebench plot run.json --out plots              # cumulative error curves, PNG + SVG
      gazebench speed -p reinhard --resolutions 64,128 --out speed.json
      gazebench report run.json speed.json --format html --out report.html
      gazebench compare run.json run.json
    """


def _add_builtin_commands() -> None:
    from gazebench.cli import compare_cmd, plot_cmd, plugins_cmd, realism_cmd, report_cmd, run_cmd, speed_cmd

    cli.add_command(plugins_cmd.plugins)
    cli.add_command(run_cmd.run)
    cli.add_command(report_cmd.report)
    cli.add_command(speed_cmd.speed)
    cli.add_command(compare_cmd.compare)
    cli.add_command(plot_cmd.plot)
    cli.add_command(realism_cmd.realism)


def _only_informational(args: list[str]) -> bool:
    """No command, or one asking for help or the version: these work whatever the plugins do."""
    return not args or any(a in ("--help", "-h", "--version") for a in args)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        get_plugin_manager().register_commands(cli)
    except PluginError as exc:  # strict mode: a broken plugin stops everything, in one line ...
        if not _only_informational(args):
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        # ... except --help and --version: load again, skipping (and naming) the broken plugin
        plugins_mod.reset_plugin_manager()
        get_plugin_manager(strict=False).register_commands(cli)
    try:
        cli.main(args=args, prog_name="gazebench", standalone_mode=True)
    except PluginError as exc:  # a plugin's fault found while a command runs: one line, no traceback
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


_add_builtin_commands()
