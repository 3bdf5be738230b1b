"""``mailkeep config check | reference | example``."""

from __future__ import annotations

from pathlib import Path

import click

from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.config.docgen import render_example, render_reference
from mailkeep.config.load import check_files, config_warnings
from mailkeep.errors import ConfigError, UserError


@click.group("config")
def config_group() -> None:
    """Validate the config file, or print its reference or an example."""


@config_group.command("check")
@pass_cli
def check(obj: CliContext) -> None:
    """Validate the config file: every error names its key, value and what was expected.

    Exit status 0 when the file is valid (warnings go to stderr), 1 when it is not.
    """
    path = obj.config_path
    config = obj.config()
    problems = check_files(config)
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    for warning in config_warnings(config):
        click.echo(f"mailkeep: warning: {path}: {warning}", err=True)
    click.echo(f"{path}: ok")


_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to this file instead of stdout.",
)


@config_group.command("reference")
@_OUTPUT
def reference(output: Path | None) -> None:
    """Print the Markdown reference of every setting (docs/config.md); needs no config file."""
    _write(render_reference(), output)


@config_group.command("example")
@_OUTPUT
def example(output: Path | None) -> None:
    """Print a minimal commented config that passes ``mailkeep config check``."""
    _write(render_example(), output)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None


COMMANDS = [config_group]
