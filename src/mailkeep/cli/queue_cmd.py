"""``mailkeep queue list | show ID | retry ID|--all | delete ID | hold ID | release ID``.

The commands edit the spool files directly (whole-file replacement, as the worker does);
a running server sees the change on its next pass. An edit racing with an attempt on the
same message can be overwritten by the attempt's result; run the command again if so.
"""

from __future__ import annotations

import datetime
from dataclasses import replace

import click

from mailkeep.cli.context import CliContext, pass_cli
from mailkeep.errors import UserError
from mailkeep.queue.models import QueuedMessage, RecipientStatus
from mailkeep.queue.spool import Spool
from mailkeep.queue.worker import HOLD


def _spool(obj: CliContext) -> Spool:
    return Spool(obj.config().data_dir / "queue")


def _load(spool: Spool, spool_id: str) -> QueuedMessage:
    try:
        return spool.load_sync(spool_id)
    except (FileNotFoundError, ValueError):
        raise UserError(f"no queued message {spool_id!r} (see: mailkeep queue list)") from None


def _when(stamp: float) -> str:
    if not stamp:
        return "now"
    moment = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _state(envelope: QueuedMessage) -> str:
    if envelope.extra.get(HOLD) == "1":
        return "held"
    pending = envelope.pending
    if not pending:
        return "done"
    return f"next {_when(min(r.next_attempt for r in pending))}"


@click.group("queue")
def queue_group() -> None:
    """Mail waiting for delivery to other servers."""


@queue_group.command("list")
@pass_cli
def list_command(obj: CliContext) -> None:
    """One line per queued message: id, size, sender, pending recipients, state."""
    spool = _spool(obj)
    ids = spool.list_ids()
    for spool_id in ids:
        try:
            envelope = spool.load_sync(spool_id)
        except (FileNotFoundError, ValueError):
            continue
        sender = envelope.mail_from or "<>"
        click.echo(
            f"{spool_id}  {envelope.size:>8}  {sender}  "
            f"{len(envelope.pending)}/{len(envelope.recipients)} pending  {_state(envelope)}"
        )
    click.echo(f"{len(ids)} message(s) queued")


@queue_group.command("show")
@click.argument("spool_id")
@pass_cli
def show_command(obj: CliContext, spool_id: str) -> None:
    """The envelope and every recipient's state (never the message body)."""
    envelope = _load(_spool(obj), spool_id)
    click.echo(f"id: {envelope.id}")
    click.echo(f"from: {envelope.mail_from or '<>'}")
    click.echo(f"received: {_when(envelope.created)} from {envelope.received_from or '-'}")
    click.echo(f"size: {envelope.size}")
    click.echo(f"state: {_state(envelope)}")
    if envelope.requiretls:
        click.echo("requiretls: yes")
    for rcpt in envelope.recipients:
        line = f"  {rcpt.address}: {rcpt.status.value}, {rcpt.attempts} attempt(s)"
        if rcpt.status is RecipientStatus.PENDING:
            line += f", next {_when(rcpt.next_attempt)}"
        if rcpt.last_error:
            line += f"; last: {rcpt.last_error}"
        click.echo(line)


def _retry(spool: Spool, spool_id: str) -> None:
    envelope = _load(spool, spool_id)
    recipients = tuple(
        replace(r, next_attempt=0.0) if r.status is RecipientStatus.PENDING else r
        for r in envelope.recipients
    )
    spool.update_sync(envelope.with_recipients(recipients))


@queue_group.command("retry")
@click.argument("spool_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Every queued message.")
@pass_cli
def retry_command(obj: CliContext, spool_id: str | None, everything: bool) -> None:
    """Try a message (or all) again on the next pass, whatever its schedule."""
    if bool(spool_id) == everything:
        raise UserError("give one message id, or --all")
    spool = _spool(obj)
    ids = spool.list_ids() if everything else [spool_id or ""]
    for one in ids:
        _retry(spool, one)
    click.echo(f"{len(ids)} message(s) will be retried")


@queue_group.command("delete")
@click.argument("spool_id")
@pass_cli
def delete_command(obj: CliContext, spool_id: str) -> None:
    """Remove a message from the queue (no notification is sent)."""
    spool = _spool(obj)
    _load(spool, spool_id)
    spool.remove_sync(spool_id)
    click.echo(f"{spool_id}: deleted")


def _set_hold(obj: CliContext, spool_id: str, hold: bool) -> None:
    spool = _spool(obj)
    envelope = _load(spool, spool_id)
    extra = dict(envelope.extra)
    if hold:
        extra[HOLD] = "1"
    else:
        extra.pop(HOLD, None)
    spool.update_sync(replace(envelope, extra=extra))
    click.echo(f"{spool_id}: {'held' if hold else 'released'}")


@queue_group.command("hold")
@click.argument("spool_id")
@pass_cli
def hold_command(obj: CliContext, spool_id: str) -> None:
    """Keep a message in the queue without trying it until released."""
    _set_hold(obj, spool_id, True)


@queue_group.command("release")
@click.argument("spool_id")
@pass_cli
def release_command(obj: CliContext, spool_id: str) -> None:
    """Let a held message be tried again (on its schedule; retry to hurry it)."""
    _set_hold(obj, spool_id, False)


COMMANDS: list[click.Command] = [queue_group]
