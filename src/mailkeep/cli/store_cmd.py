"""``mailkeep store verify ADDRESS [--repair]``: check (and fix) one user's mail store.

Safe while the server runs: the store's SQLite locking serialises the repair with deliveries,
and files younger than an hour that nothing refers to yet are left alone.
"""

from __future__ import annotations

import asyncio

import click

from mailkeep.admin import operations
from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.store.disk import DiskStore
from mailkeep.store.models import StoreLimits, VerifyReport


def mail_root(obj: CliContext) -> DiskStore:
    config = obj.config()
    limits = StoreLimits(**config.store.model_dump())
    return DiskStore(config.data_dir / "mail", limits=limits)


def _user_id(obj: CliContext, address: str) -> int:
    with operations.open_directory(obj.config()) as directory:
        return directory.get_user(address).id


async def _verify(store: DiskStore, user_id: int, repair: bool) -> VerifyReport:
    try:
        return await store.verify(user_id, repair=repair)
    finally:
        await store.close()


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
    report = asyncio.run(_verify(mail_root(obj), user_id, repair))
    for problem in report.problems:
        click.echo(problem)
    state = "repaired" if report.repaired else ("ok" if not report.problems else "PROBLEMS")
    click.echo(f"{address}: {report.messages} messages, {len(report.problems)} problems, {state}")
    if report.problems and not report.repaired:
        raise SystemExit(1)


COMMANDS = [store_group]
