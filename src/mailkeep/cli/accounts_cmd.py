"""``mailkeep domain | user | alias``: manage local domains, users and aliases.

Every change is one transaction: a refused command prints one line, exits 1 and leaves the
accounts database as it was. Passwords come from a hidden prompt (asked twice) or, with
``--password-stdin``, from the first line of standard input; never from the command line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from mailkeep.accounts.directory import Directory
from mailkeep.accounts.models import User
from mailkeep.admin import operations
from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.errors import UserError
from mailkeep.mail.hostname import to_ulabel


@contextmanager
def _directory(obj: CliContext) -> Iterator[Directory]:
    with operations.open_directory(obj.config()) as directory:
        yield directory


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.buffer.readline()
        try:
            password = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise UserError("the password on standard input is not UTF-8") from None
        if not password:
            raise UserError("the password is empty (give it as the first line of stdin)")
        return password
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: pipe it in with --password-stdin")
    typed: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not typed:
        raise UserError("the password is empty")
    return typed


def _size(value: str | None) -> int | None:
    return None if value is None else operations.parse_size(value)


password_stdin = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
quota_option = click.option(
    "--quota", metavar="SIZE", help="Mailbox size limit, e.g. 500M, 2G; 0 or unlimited."
)
quota_messages_option = click.option(
    "--quota-messages",
    type=click.IntRange(min=0),
    metavar="N",
    help="Message count limit; 0 is unlimited.",
)
admin_of_option = click.option(
    "--admin-of",
    "admin_of",
    multiple=True,
    metavar="DOMAIN",
    help="May send as any address of DOMAIN (repeatable).",
)


# -- domain ------------------------------------------------------------------------------


@click.group("domain")
def domain_group() -> None:
    """Local domains: the domains whose mail this server keeps."""


@domain_group.command("add")
@click.argument("name")
@pass_cli
def domain_add(obj: CliContext, name: str) -> None:
    """Add a local domain."""
    config = obj.config()
    with _directory(obj) as directory:
        domain = operations.add_domain(directory, name, operations.domain_setup_steps(config))
    click.echo(f"domain {domain.display} added; its DKIM keys are made")
    click.echo(f"publish the DNS records that `mailkeep dns {domain.display}` prints")


@domain_group.command("del")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also delete the domain's users and aliases.")
@pass_cli
def domain_del(obj: CliContext, name: str, force: bool) -> None:
    """Delete a local domain (with users or aliases, only with --force)."""
    with _directory(obj) as directory:
        directory.delete_domain(name, force=force)
    click.echo(f"domain {name} deleted")


@domain_group.command("list")
@pass_cli
def domain_list(obj: CliContext) -> None:
    """List the local domains, one per line."""
    with _directory(obj) as directory:
        for domain in directory.list_domains():
            click.echo(domain.display)


@domain_group.command("catchall")
@click.argument("domain")
@click.argument("target", required=False)
@click.option("--off", is_flag=True, help="Refuse mail for unknown addresses again.")
@pass_cli
def domain_catchall(obj: CliContext, domain: str, target: str | None, off: bool) -> None:
    """Show, set (TARGET) or remove (--off) where mail for unknown addresses of DOMAIN goes."""
    if off and target:
        raise UserError("give a TARGET or --off, not both")
    with _directory(obj) as directory:
        if not off and target is None:
            current = directory.get_domain(domain)
            shown = current.catchall.display() if current.catchall else "off"
            click.echo(f"catch-all for {current.display}: {shown}")
            return
        changed = directory.set_catchall(domain, None if off else target)
    shown = changed.catchall.display() if changed.catchall else "off"
    click.echo(f"catch-all for {changed.display}: {shown}")


# -- user --------------------------------------------------------------------------------


@click.group("user")
def user_group() -> None:
    """Users: the people with a mailbox, a password and quotas."""


def _describe(user: User) -> str:
    parts = [
        user.address.display(),
        f"id={user.id}",
        f"quota={operations.format_size(user.quota_bytes).replace(' ', '')}",
        f"messages={user.quota_messages or 'unlimited'}",
    ]
    if user.admin_of:
        parts.append("admin-of=" + ",".join(to_ulabel(d) for d in user.admin_of))
    if user.disabled:
        parts.append("disabled")
    return "  ".join(parts)


@user_group.command("add")
@click.argument("address")
@password_stdin
@quota_option
@quota_messages_option
@admin_of_option
@pass_cli
def user_add(
    obj: CliContext,
    address: str,
    password_stdin: bool,
    quota: str | None,
    quota_messages: int | None,
    admin_of: tuple[str, ...],
) -> None:
    """Add a user; the password is asked for (or read with --password-stdin)."""
    quota_bytes = _size(quota) or 0
    with _directory(obj) as directory:
        directory.check_new_user(address)  # before asking for a password nobody will use
        password = _read_password(password_stdin)
        user = directory.add_user(
            address,
            password,
            quota_bytes=quota_bytes,
            quota_messages=quota_messages or 0,
            admin_of=admin_of,
        )
    click.echo(f"user {user.address.display()} added (id {user.id})")


@user_group.command("del")
@click.argument("address")
@pass_cli
def user_del(obj: CliContext, address: str) -> None:
    """Delete a user (their stored mail is not touched)."""
    with _directory(obj) as directory:
        user = directory.get_user(address)
        referrers = directory.delete_user(address)
    click.echo(f"user {user.address.display()} deleted (id {user.id})")
    if referrers:
        click.echo(f"still pointing to it, now reaching no one there: {', '.join(referrers)}")


@user_group.command("list")
@click.argument("domain", required=False)
@pass_cli
def user_list(obj: CliContext, domain: str | None) -> None:
    """List users (of one DOMAIN, or all), one per line."""
    with _directory(obj) as directory:
        for user in directory.list_users(domain):
            click.echo(_describe(user))


@user_group.command("passwd")
@click.argument("address")
@password_stdin
@pass_cli
def user_passwd(obj: CliContext, address: str, password_stdin: bool) -> None:
    """Set a user's password."""
    with _directory(obj) as directory:
        user = directory.get_user(address)
        directory.set_password(address, _read_password(password_stdin))
    click.echo(f"password of {user.address.display()} changed")


@user_group.command("disable")
@click.argument("address")
@pass_cli
def user_disable(obj: CliContext, address: str) -> None:
    """Stop a user from logging in and receiving mail."""
    with _directory(obj) as directory:
        user = directory.set_disabled(address, True)
    click.echo(f"user {user.address.display()} disabled")


@user_group.command("enable")
@click.argument("address")
@pass_cli
def user_enable(obj: CliContext, address: str) -> None:
    """Let a disabled user log in and receive mail again."""
    with _directory(obj) as directory:
        user = directory.set_disabled(address, False)
    click.echo(f"user {user.address.display()} enabled")


@user_group.command("set")
@click.argument("address")
@quota_option
@quota_messages_option
@admin_of_option
@click.option("--no-admin", is_flag=True, help="Administer no domain.")
@pass_cli
def user_set(
    obj: CliContext,
    address: str,
    quota: str | None,
    quota_messages: int | None,
    admin_of: tuple[str, ...],
    no_admin: bool,
) -> None:
    """Change a user's quotas or administered domains (--admin-of replaces the list)."""
    if no_admin and admin_of:
        raise UserError("give --admin-of or --no-admin, not both")
    domains: tuple[str, ...] | None = () if no_admin else (admin_of or None)
    if quota is None and quota_messages is None and domains is None:
        raise UserError(
            "nothing to change: give --quota, --quota-messages, --admin-of or --no-admin"
        )
    quota_bytes = _size(quota)
    with _directory(obj) as directory:
        user = directory.update_user(
            address, quota_bytes=quota_bytes, quota_messages=quota_messages, admin_of=domains
        )
    click.echo(_describe(user))


# -- alias -------------------------------------------------------------------------------


@click.group("alias")
def alias_group() -> None:
    """Aliases: addresses that forward to users or to other servers."""


@alias_group.command("add")
@click.argument("address")
@click.argument("targets", nargs=-1, required=True)
@pass_cli
def alias_add(obj: CliContext, address: str, targets: tuple[str, ...]) -> None:
    """Make ADDRESS forward to TARGET... (added to its targets if it exists)."""
    with _directory(obj) as directory:
        alias = directory.add_alias(address, targets)
    shown = ", ".join(t.display() for t in alias.targets)
    click.echo(f"alias {alias.source.display()} -> {shown}")


@alias_group.command("del")
@click.argument("address")
@click.argument("targets", nargs=-1)
@pass_cli
def alias_del(obj: CliContext, address: str, targets: tuple[str, ...]) -> None:
    """Delete an alias, or only the TARGETs given."""
    with _directory(obj) as directory:
        directory.delete_alias(address, targets)
    click.echo(f"alias {address} {'targets removed' if targets else 'deleted'}")


@alias_group.command("list")
@click.argument("domain", required=False)
@pass_cli
def alias_list(obj: CliContext, domain: str | None) -> None:
    """List aliases (of one DOMAIN, or all): ``source -> target, target``."""
    with _directory(obj) as directory:
        for alias in directory.list_aliases(domain):
            shown = ", ".join(t.display() for t in alias.targets)
            click.echo(f"{alias.source.display()} -> {shown}")


COMMANDS: list[click.Command] = [domain_group, user_group, alias_group]
