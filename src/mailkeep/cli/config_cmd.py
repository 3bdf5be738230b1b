"""``mailkeep config check | reference``."""

from __future__ import annotations

import click

from mailkeep.cli.context import CliContext, pass_cli


@click.group("config")
def config_group() -> None:
    """Validate the config file or write its reference."""


@config_group.command("check")
@pass_cli
def check(obj: CliContext) -> None:
    """Validate the config file: every error names its key, value and what was expected."""
    path = obj.config_path
    obj.config()
    click.echo(f"{path}: ok")


COMMANDS = [config_group]
