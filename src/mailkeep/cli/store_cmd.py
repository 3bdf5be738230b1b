"""``mailkeep store verify``, ``mailkeep import maildir|mbox``, ``mailkeep export maildir``.

``store verify ADDRESS [--repair]`` checks (and fixes) one user's mail store. It is safe
while the server runs: the store's SQLite locking serialises the repair with deliveries, and
files younger than an hour that nothing refers to yet are left alone. Imports go through the
store like any delivery (quota applies, other sessions hear of the new mail).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from mailkeep.accounts.models import User
from mailkeep.admin import operations
from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.errors import UserError
from mailkeep.store import transfer
from mailkeep.store.disk import DiskStore
from mailkeep.store.errors import StoreError
from mailkeep.store.models import INBOX, Quota, StoreLimits

T = TypeVar("T")


def mail_root(obj: CliContext) -> DiskStore:
    config = obj.config()
    limits = StoreLimits(**config.store.model_dump())
    return DiskStore(config.data_dir / "mail", limits=limits)


def _user(obj: CliContext, address: str) -> User:
    with operations.open_directory(obj.config()) as directory:
        return directory.get_user(address)


def _user_id(obj: CliContext, address: str) -> int:
    return _user(obj, address).id


def _with_store(obj: CliContext, work: Callable[[DiskStore], Awaitable[T]]) -> T:
    async def main() -> T:
        store = mail_root(obj)
        try:
            return await work(store)
        except StoreError as exc:
            raise UserError(str(exc)) from exc
        finally:
            await store.close()

    return asyncio.run(main())


def _print_report(report: transfer.TransferReport, verb: str) -> None:
    for name, count, kept in report.mailboxes:
        note = " (UIDs kept)" if kept and count else ""
        click.echo(f"{name}: {count} messages {verb}{note}")


@click.group("store")
def store_group() -> None:
    """Check the mail store."""


@store_group.command("verify")
@click.argument("address")
@click.option("--repair", is_flag=True, help="Fix what can be fixed (see the report).")
@pass_cli
def verify(obj: CliContext, address: str, repair: bool) -> None:
    """Check ADDRESS's mail: database integrity, message files, counters; exit 1 if a
    problem remains."""
    user_id = _user_id(obj, address)
    report = _with_store(obj, lambda s: s.verify(user_id, repair=repair))
    for problem in report.problems:
        click.echo(problem)
    state = "repaired" if report.repaired else ("ok" if not report.problems else "PROBLEMS")
    click.echo(f"{address}: {report.messages} messages, {len(report.problems)} problems, {state}")
    if report.problems and not report.repaired:
        raise SystemExit(1)


@click.group("import")
def import_group() -> None:
    """Import mail into a user's store."""


@import_group.command("maildir")
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--user", "address", required=True, help="The user (address) to import into.")
@pass_cli
def import_maildir(obj: CliContext, path: Path, address: str) -> None:
    """Import a Maildir (with Dovecot's Maildir++ folders, flags, keywords, and UIDs and
    UIDVALIDITY from dovecot-uidlist when the target mailbox is new)."""
    user = _user(obj, address)
    quota = Quota(user.quota_bytes, user.quota_messages)
    try:
        report = _with_store(obj, lambda s: transfer.import_maildir(s, user.id, path, quota))
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    _print_report(report, "imported")


@import_group.command("mbox")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--user", "address", required=True, help="The user (address) to import into.")
@click.option("--mailbox", default=INBOX, show_default=True, help="Mailbox to import into.")
@pass_cli
def import_mbox(obj: CliContext, path: Path, address: str, mailbox: str) -> None:
    """Import an mbox file (flags from Status/X-Status) into one mailbox."""
    user = _user(obj, address)
    quota = Quota(user.quota_bytes, user.quota_messages)
    report = _with_store(obj, lambda s: transfer.import_mbox(s, user.id, path, mailbox, quota))
    _print_report(report, "imported")


@click.group("export")
def export_group() -> None:
    """Export a user's mail."""


@export_group.command("maildir")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False))
@click.option("--user", "address", required=True, help="The user (address) to export.")
@pass_cli
def export_maildir(obj: CliContext, path: Path, address: str) -> None:
    """Write every mailbox as a Maildir++ tree (flags, keywords, dovecot-uidlist)."""
    if path.exists() and any(path.iterdir()):
        raise UserError(f"{path} exists and is not empty")
    user_id = _user_id(obj, address)
    report = _with_store(obj, lambda s: transfer.export_maildir(s, user_id, path))
    _print_report(report, "exported")


COMMANDS = [store_group, import_group, export_group]
