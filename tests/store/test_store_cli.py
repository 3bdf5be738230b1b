"""``mailkeep store verify``: run through click against a temporary config and store.

The command group is tested directly (cli/main.py registers it; see the store's report).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from mailkeep.accounts.models import User
from mailkeep.admin import operations
from mailkeep.cli.context import CliContext
from mailkeep.cli.store_cmd import export_group, import_group, mail_root, store_group
from mailkeep.errors import UserError
from mailkeep.store.models import INBOX, NewMessage, Quota
from tests.store.conftest import message


def setup(tmp_path: Path) -> tuple[CliContext, Path, User]:
    config = tmp_path / "mailkeep.toml"
    data = tmp_path / "data"
    config.write_text(f'hostname = "mail.example.org"\ndata_dir = "{data}"\n')
    obj = CliContext(config)
    with operations.open_directory(obj.config()) as directory:
        operations.add_domain(directory, "example.org")
        user = directory.add_user("ann@example.org", "a long enough password 1")
        directory.add_user("bob@example.org", "a long enough password 2", quota_messages=1)
    return obj, data, user


def test_verify_reports_then_repairs(tmp_path: Path) -> None:
    obj, data, user = setup(tmp_path)

    async def fill() -> None:
        store = mail_root(obj)
        try:
            await store.append(
                user.id, INBOX, [NewMessage(message(f"m{i}")) for i in range(3)], Quota()
            )
        finally:
            await store.close()

    asyncio.run(fill())
    runner = CliRunner()
    result = runner.invoke(store_group, ["verify", "ann@example.org"], obj=obj)
    assert result.exit_code == 0, result.output
    assert "ann@example.org: 3 messages, 0 problems, ok" in result.output
    victim = next(p for p in (data / "mail" / str(user.id) / "msg").rglob("*") if p.is_file())
    victim.unlink()
    result = runner.invoke(store_group, ["verify", "ann@example.org"], obj=obj)
    assert result.exit_code == 1 and "is missing" in result.output
    result = runner.invoke(store_group, ["verify", "ann@example.org", "--repair"], obj=obj)
    assert result.exit_code == 0 and "repaired" in result.output
    result = runner.invoke(store_group, ["verify", "ann@example.org"], obj=obj)
    assert result.exit_code == 0 and "2 messages, 0 problems, ok" in result.output


def test_import_mbox_export_and_import_maildir(tmp_path: Path) -> None:
    obj, _, _ = setup(tmp_path)
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(
        b"From a@example.org Tue Jan  2 10:00:00 2024\nSubject: a\n\none\n\n"
        b"From b@example.org Tue Jan  2 11:00:00 2024\nSubject: b\nStatus: RO\n\ntwo\n"
    )
    runner = CliRunner()
    args = ["mbox", str(mbox), "--user", "ann@example.org", "--mailbox", "Old/2024"]
    result = runner.invoke(import_group, args, obj=obj)
    assert result.exit_code == 0, result.output
    assert "Old/2024: 2 messages imported" in result.output
    out = tmp_path / "out"
    result = runner.invoke(
        export_group, ["maildir", str(out), "--user", "ann@example.org"], obj=obj
    )
    assert result.exit_code == 0, result.output
    assert (out / ".Old.2024" / "dovecot-uidlist").is_file()
    result = runner.invoke(
        export_group, ["maildir", str(out), "--user", "ann@example.org"], obj=obj
    )
    assert isinstance(result.exception, UserError) and "not empty" in str(result.exception)
    args = ["maildir", str(out), "--user", "bob@example.org"]  # bob may keep one message
    result = runner.invoke(import_group, args, obj=obj)
    assert isinstance(result.exception, UserError)
    assert "quota exceeded" in str(result.exception)
