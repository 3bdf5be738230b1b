"""``mailkeep queue list | show | retry | delete | hold | release`` over a real spool."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mailkeep.cli import queue_cmd
from mailkeep.cli.context import CliContext
from mailkeep.cli.main import MailkeepGroup
from mailkeep.queue.models import QueuedMessage, QueuedRecipient, RecipientStatus
from mailkeep.queue.spool import Spool, new_id


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mailkeep.toml"
    path.write_text(f'hostname = "mx.a.test"\ndata_dir = "{tmp_path / "data"}"\n')
    return path


def run(config: Path, *args: str) -> Result:
    group = MailkeepGroup("mailkeep")
    for command in queue_cmd.COMMANDS:
        group.add_command(command)
    assert isinstance(group, click.Group)
    return CliRunner().invoke(group, list(args), obj=CliContext(config))


def queued(tmp_path: Path) -> tuple[Spool, str]:
    spool = Spool(tmp_path / "data" / "queue")
    spool_id = new_id(1_700_000_000.0)
    spool.put_sync(
        QueuedMessage(
            id=spool_id,
            mail_from="a@a.test",
            recipients=(
                QueuedRecipient("x@b.test", attempts=2, next_attempt=1e10, last_error="451 busy"),
                QueuedRecipient("y@b.test", status=RecipientStatus.DELIVERED, attempts=1),
            ),
            created=1_700_000_000.0,
            size=12,
        ),
        b"Subject: x\r\n\r\nsecret body\r\n",
    )
    return spool, spool_id


def test_list_and_show(config: Path, tmp_path: Path) -> None:
    _, spool_id = queued(tmp_path)
    listed = run(config, "queue", "list")
    assert listed.exit_code == 0, listed.output
    assert f"{spool_id}" in listed.output and "1/2 pending" in listed.output
    shown = run(config, "queue", "show", spool_id)
    assert "x@b.test: pending, 2 attempt(s)" in shown.output
    assert "last: 451 busy" in shown.output and "y@b.test: delivered" in shown.output
    assert "secret body" not in shown.output
    missing = run(config, "queue", "show", "ffff")
    assert missing.exit_code != 0 and "no queued message" in missing.output


def test_retry_hold_release_delete(config: Path, tmp_path: Path) -> None:
    spool, spool_id = queued(tmp_path)
    assert run(config, "queue", "retry", spool_id).exit_code == 0
    assert spool.load_sync(spool_id).recipients[0].next_attempt == 0.0
    assert run(config, "queue", "hold", spool_id).exit_code == 0
    assert spool.load_sync(spool_id).extra["hold"] == "1"
    assert "held" in run(config, "queue", "list").output
    assert run(config, "queue", "release", spool_id).exit_code == 0
    assert "hold" not in spool.load_sync(spool_id).extra
    assert run(config, "queue", "retry").exit_code != 0  # neither id nor --all
    assert "1 message(s)" in run(config, "queue", "retry", "--all").output
    assert run(config, "queue", "delete", spool_id).exit_code == 0
    assert spool.list_ids() == []
