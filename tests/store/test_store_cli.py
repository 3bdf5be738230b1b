"""``mailkeep store verify``: run through click against a temporary config and store.

The command group is tested directly (cli/main.py registers it; see the store's report).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from mailkeep.admin import operations
from mailkeep.cli.context import CliContext
from mailkeep.cli.store_cmd import mail_root, store_group
from mailkeep.store.models import INBOX, NewMessage, Quota
from tests.store.conftest import message


def test_verify_reports_then_repairs(tmp_path: Path) -> None:
    config = tmp_path / "mailkeep.toml"
    data = tmp_path / "data"
    config.write_text(f'hostname = "mail.example.org"\ndata_dir = "{data}"\n')
    obj = CliContext(config)
    with operations.open_directory(obj.config()) as directory:
        operations.add_domain(directory, "example.org")
        user = directory.add_user("ann@example.org", "a long enough password 1")

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
