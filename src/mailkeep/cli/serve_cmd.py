"""``mailkeep serve``."""

from __future__ import annotations

import click

from mailkeep.cli.context import CliContext, pass_cli


@click.command("serve")
@pass_cli
def serve(obj: CliContext) -> None:
    """Run the mail server in the foreground until SIGTERM or Ctrl-C (SIGHUP reloads the
    certificate)."""
    from mailkeep.app import serve as run_server

    run_server(obj.config())


COMMANDS: list[click.Command] = [serve]
