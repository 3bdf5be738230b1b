"""Local copies refused at the end of DATA: retried in the store, reported when given up."""

from __future__ import annotations

import asyncio

from mailkeep.delivery.local_retry import LocalRetry, LocalRetrySettings, is_local_retry
from mailkeep.mail.dsn import is_notification
from mailkeep.protocol.smtp.grammar import Notify
from mailkeep.queue.models import QueuedMessage, QueuedRecipient, RecipientStatus
from mailkeep.queue.spool import new_id
from mailkeep.store.models import INBOX, Recipient
from tests.delivery.conftest import NOW, World

RAW = (
    b"Received: from x ([192.0.2.1])\r\n\tby mail.example.test; date\r\nSubject: s\r\n\r\nbody\r\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def spool_retry(
    world: World,
    address: str,
    notify: frozenset[Notify] = frozenset(),
    mailbox: str | None = None,
) -> str:
    user_id = world.directory.get_user(address).id
    spool_id = new_id(NOW)
    rcpt = QueuedRecipient(address, notify, None, local_user_id=user_id, local_mailbox=mailbox)
    world.spool.put_sync(
        QueuedMessage(
            id=spool_id,
            mail_from="sender@example.org",
            recipients=(rcpt,),
            created=NOW,
            size=len(RAW),
        ),
        RAW,
    )
    return spool_id


def retry(world: World, clock: Clock) -> LocalRetry:
    settings = LocalRetrySettings(hostname="mail.example.test", give_up_seconds=3600)
    return LocalRetry(
        spool=world.spool, store=world.store, directory=world.directory, settings=settings,
        clock=clock,
    )  # fmt: skip


def inbox(world: World, address: str, mailbox: str = INBOX) -> list[bytes]:
    user_id = world.directory.get_user(address).id

    async def run() -> list[bytes]:
        snap = await world.store.select(user_id, mailbox)
        return [await world.store.read_message(user_id, snap.status.id, u) for u in snap.uids]

    return asyncio.run(run())


def fill(world: World, address: str) -> None:
    user = world.directory.get_user(address)
    asyncio.run(world.store.deliver([Recipient(user.id)], b"Subject: filler\r\n\r\n"))


def test_a_retry_that_succeeds_delivers_with_return_path_and_removes_the_envelope(
    world: World,
) -> None:
    spool_retry(world, "bob@example.test")
    assert asyncio.run(retry(world, Clock()).run_once()) == 1
    [stored] = inbox(world, "bob@example.test")
    assert stored == b"Return-Path: <sender@example.org>\r\n" + RAW
    assert world.spool.list_ids() == []


def test_a_quarantined_copy_is_retried_into_junk(world: World) -> None:
    spool_retry(world, "bob@example.test", mailbox="Junk")
    assert asyncio.run(retry(world, Clock()).run_once()) == 1
    assert inbox(world, "bob@example.test") == []
    [stored] = inbox(world, "bob@example.test", "Junk")
    assert stored.endswith(RAW)
    assert world.spool.list_ids() == []


def test_a_copy_whose_mailbox_was_deleted_meanwhile_goes_to_inbox(world: World) -> None:
    user_id = world.directory.get_user("bob@example.test").id
    asyncio.run(world.store.delete_mailbox(user_id, "Junk"))
    spool_retry(world, "bob@example.test", mailbox="Junk")
    assert asyncio.run(retry(world, Clock()).run_once()) == 1
    [stored] = inbox(world, "bob@example.test")
    assert stored.endswith(RAW)
    assert world.spool.list_ids() == []


def test_a_refusal_waits_with_back_off(world: World) -> None:
    fill(world, "small@example.test")  # quota: one message
    spool_id = spool_retry(world, "small@example.test")
    clock = Clock()
    task = retry(world, clock)
    assert asyncio.run(task.run_once()) == 1
    [rcpt] = world.spool.load_sync(spool_id).recipients
    assert (rcpt.status, rcpt.attempts, rcpt.next_attempt) == (
        RecipientStatus.PENDING,
        1,
        NOW + 300,
    )
    assert rcpt.last_error is not None and "quota" in rcpt.last_error
    clock.now += 100
    assert asyncio.run(task.run_once()) == 0  # not due yet
    clock.now += 200
    assert asyncio.run(task.run_once()) == 1
    assert world.spool.load_sync(spool_id).recipients[0].next_attempt == clock.now + 600


def test_giving_up_reports_the_failure_to_the_sender(world: World) -> None:
    fill(world, "small@example.test")
    spool_id = spool_retry(world, "small@example.test")
    clock = Clock()
    clock.now += 7200  # past give_up_seconds
    asyncio.run(retry(world, clock).run_once())
    ids = world.spool.list_ids()
    assert spool_id not in ids
    [report_id] = ids
    report = world.spool.load_sync(report_id)
    assert report.mail_from is None
    assert [r.address for r in report.recipients] == ["sender@example.org"]
    assert not is_local_retry(report)
    raw = world.spool.read_message_sync(report_id)
    assert is_notification(raw)
    assert b"Status: 5.2.2" in raw and b"Action: failed" in raw


def test_a_deleted_user_fails_at_once_and_notify_never_means_no_report(world: World) -> None:
    spool_retry(world, "carol@example.test", frozenset({Notify.NEVER}))
    world.directory.set_disabled("carol@example.test", True)
    asyncio.run(retry(world, Clock()).run_once())
    assert world.spool.list_ids() == []
