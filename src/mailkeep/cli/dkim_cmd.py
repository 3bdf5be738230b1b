"""``mailkeep dkim keygen | list``: DKIM keys under data_dir/dkim."""

from __future__ import annotations

import click

from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.errors import UserError
from mailkeep.mailauth.keys import KeyStore


@click.group("dkim")
def dkim_group() -> None:
    """DKIM signing keys (Ed25519 and RSA-2048 per selector name)."""


@dkim_group.command("keygen")
@click.argument("domain")
@click.option(
    "--selector",
    "-s",
    default=None,
    help="Base selector name; keys are <selector>-ed25519 and <selector>-rsa "
    "(default: mk<year><month>).",
)
@pass_cli
def keygen(obj: CliContext, domain: str, selector: str | None) -> None:
    """Create the Ed25519 and RSA-2048 keys of DOMAIN; existing ones are left alone."""
    store = KeyStore(obj.config().data_dir)
    try:
        generated = store.generate(domain, selector)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    active = set(store.active_selectors(domain))
    for item in generated:
        key = item.key
        state = "created" if item.created else "exists, unchanged"
        note = "" if key.selector in active else " (not active yet: publish it, then activate)"
        click.echo(f"{key.domain} {key.selector} {key.algorithm.value}: {state}{note}")
        click.echo(f'  {key.record_name}. IN TXT "{key.txt_record()}"')


@dkim_group.command("list")
@click.argument("domain", required=False)
@pass_cli
def list_keys(obj: CliContext, domain: str | None) -> None:
    """List the keys of DOMAIN, or of every domain; '*' marks those that sign."""
    store = KeyStore(obj.config().data_dir)
    try:
        keys = store.keys(domain)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not keys:
        click.echo("no DKIM keys" + (f" for {domain}" if domain else ""))
    for key in keys:
        mark = "*" if key.selector in store.active_selectors(key.domain) else " "
        click.echo(f"{mark} {key.domain} {key.selector} {key.algorithm.value}")


@dkim_group.command("activate")
@click.argument("domain")
@click.argument("selectors", nargs=-1, required=True)
@pass_cli
def activate(obj: CliContext, domain: str, selectors: tuple[str, ...]) -> None:
    """Sign mail of DOMAIN with exactly these SELECTORS from now on (key rotation)."""
    try:
        KeyStore(obj.config().data_dir).activate(domain, selectors)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    click.echo(f"{domain}: signing with {', '.join(selectors)}")


COMMANDS: list[click.Command] = [dkim_group]
