"""The ``mailkeep`` command: one group, a module per command group.

Every user mistake is a UserError: one line on stderr, exit status 1, no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailkeep import __version__
from mailkeep.cli.context import CliContext
from mailkeep.errors import UserError


class MailkeepGroup(click.Group):
    """Turns UserError into one line on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            for line in str(exc).splitlines() or ["error"]:
                click.echo(f"mailkeep: {line}", err=True)
            sys.exit(1)


@click.group(cls=MailkeepGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_option",
    type=click.Path(path_type=Path),
    default=None,
    help="Config file (else $MAILKEEP_CONFIG, ./mailkeep.toml, /etc/mailkeep/mailkeep.toml).",
)
@click.version_option(__version__, prog_name="mailkeep")
@click.pass_context
def cli(ctx: click.Context, config_option: Path | None) -> None:
    """mailkeep: an all-in-one, secure-by-default mail server."""
    ctx.obj = CliContext(config_option)


def _register() -> None:
    from mailkeep.cli import (
        accounts_cmd,
        config_cmd,
        dkim_cmd,
        dns_cmd,
        queue_cmd,
        serve_cmd,
        store_cmd,
        tlsrpt_cmd,
    )

    modules = (
        config_cmd,
        accounts_cmd,
        dkim_cmd,
        dns_cmd,
        serve_cmd,
        store_cmd,
        queue_cmd,
        tlsrpt_cmd,
    )
    for module in modules:
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """Console entry point."""
    cli(prog_name="mailkeep")
