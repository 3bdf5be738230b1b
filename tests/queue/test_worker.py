"""The queue worker over a real spool and a recording transport: grouping, retries,
expiry, notifications, hold, and results made durable message by message."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from mailkeep.protocol.smtp.grammar import Notify, Ret
from mailkeep.queue.models import QueuedMessage, QueuedRecipient, RecipientStatus
from mailkeep.queue.spool import Spool, new_id
from mailkeep.queue.transport import (
    OutboundMessage,
    Outcome,
    RecipientResult,
    RecordingTransport,
    ResultSink,
)
from mailkeep.queue.worker import HOLD, QueueWorker, WorkerSettings

BODY = b"From: a@a.test\r\nTo: x@b.test\r\nSubject: hi\r\n\r\nhello\r\n"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def put(
    spool: Spool, clock: Clock, *rcpts: str, sender: str | None = "a@a.test", **kw: object
) -> str:
    spool_id = new_id(clock.now)
    envelope = QueuedMessage(
        id=spool_id,
        mail_from=sender,
        recipients=tuple(QueuedRecipient(r) for r in rcpts),
        created=clock.now,
        size=len(BODY),
        **kw,  # type: ignore[arg-type]
    )
    spool.put_sync(envelope, BODY)
    return spool_id


def worker(tmp_path: Path, transport: object, clock: Clock, **kw: int) -> tuple[Spool, QueueWorker]:
    spool = Spool(tmp_path / "queue", clock=clock)
    settings = WorkerSettings(hostname="mx.a.test", **kw)  # type: ignore[arg-type]
    return spool, QueueWorker(spool, transport, settings, clock=clock)  # type: ignore[arg-type]


def notifications(spool: Spool) -> list[QueuedMessage]:
    return [e for i in spool.list_ids() if (e := spool.load_sync(i)).mail_from is None]


def test_groups_by_domain_and_removes_delivered(tmp_path: Path) -> None:
    clock = Clock()
    transport = RecordingTransport()
    spool, queue = worker(tmp_path, transport, clock, max_messages_per_connection=2)
    for _ in range(3):
        put(spool, clock, "x@b.test", "y@c.test", "z@B.test")
    report = asyncio.run(queue.run_once())
    assert report.delivered == 9 and report.failed == 0
    domains = sorted((d, len(batch)) for d, batch in transport.batches)
    assert domains == [("b.test", 1), ("b.test", 2), ("c.test", 1), ("c.test", 2)]
    # one message carries both b.test recipients in one transaction
    assert all(len(m.recipients) == 2 for d, b in transport.batches if d == "b.test" for m in b)
    assert spool.list_ids() == []


def test_deferred_then_delivered_then_expired(tmp_path: Path) -> None:
    clock = Clock()
    state = {"outcome": Outcome.DEFERRED}
    transport = RecordingTransport(lambda domain, address: state["outcome"])
    spool, queue = worker(tmp_path, transport, clock)
    kept = put(spool, clock, "x@b.test")
    asyncio.run(queue.run_once())
    envelope = spool.load_sync(kept)
    (rcpt,) = envelope.recipients
    assert rcpt.status is RecipientStatus.PENDING and rcpt.attempts == 1
    assert rcpt.next_attempt == clock.now + 300 and rcpt.last_error == "test deferred"
    # Not due yet: nothing is sent.
    asyncio.run(queue.run_once())
    assert len(transport.batches) == 1
    clock.now += 300
    state["outcome"] = Outcome.DELIVERED
    asyncio.run(queue.run_once())
    assert spool.list_ids() == []


def test_rewrite_within_one_clock_tick_is_not_mistaken_for_the_old_envelope(
    tmp_path: Path,
) -> None:
    # A deferral rewrites the envelope; when that happens within the file system's clock
    # tick, the new file has the old mtime. The scan must still see the new state (it
    # once re-sent the message at once, before its next attempt was due).
    clock = Clock()
    transport = RecordingTransport(lambda domain, address: Outcome.DEFERRED)
    spool, queue = worker(tmp_path, transport, clock)
    kept = put(spool, clock, "x@b.test")
    path = spool.envelope_path(kept)
    first = path.stat()
    asyncio.run(queue.run_once())  # scans (caching this version), sends, defers: rewrite
    assert len(transport.batches) == 1
    os.utime(path, ns=(first.st_atime_ns, first.st_mtime_ns))  # the same tick
    assert path.stat().st_mtime_ns == first.st_mtime_ns
    asyncio.run(queue.run_once())
    assert len(transport.batches) == 1  # not due for another 300 s


def test_expiry_bounces_once_with_delay_warning_first(tmp_path: Path) -> None:
    clock = Clock()
    transport = RecordingTransport(lambda domain, address: Outcome.DEFERRED)
    spool, queue = worker(tmp_path, transport, clock)
    original = put(spool, clock, "x@b.test")
    asyncio.run(queue.run_once())
    clock.now += 4 * 3600
    asyncio.run(queue.run_once())
    (warning,) = notifications(spool)
    assert warning.recipients[0].address == "a@a.test"
    raw = spool.read_message_sync(warning.id)
    assert b"Action: delayed" in raw and b"Subject: hi" in raw
    assert spool.load_sync(original).extra["warned"] == "1"
    clock.now += 5 * 86400
    asyncio.run(queue.run_once())
    assert original not in spool.list_ids()
    bounces = [n for n in notifications(spool) if n.id != warning.id]
    assert len(bounces) == 1
    raw = spool.read_message_sync(bounces[0].id)
    assert b"Action: failed" in raw and b"Status: 4.4.7" not in raw
    assert b"Status: 5.4.7" in raw and b"gave up after" in raw


def test_permanent_failure_bounces_but_never_to_the_null_sender(tmp_path: Path) -> None:
    clock = Clock()
    transport = RecordingTransport(lambda domain, address: Outcome.FAILED)
    spool, queue = worker(tmp_path, transport, clock)
    put(spool, clock, "x@b.test", ret=Ret.FULL)
    asyncio.run(queue.run_once())
    (bounce,) = notifications(spool)
    assert bounce.recipients[0].address == "a@a.test"
    assert b"hello" in spool.read_message_sync(bounce.id)  # RET=FULL
    # The bounce itself fails: it is dropped, no bounce of the bounce.
    report = asyncio.run(queue.run_once())
    assert report.failed == 1 and report.notifications == 0
    assert spool.list_ids() == []


def test_notify_never_and_success(tmp_path: Path) -> None:
    clock = Clock()
    transport = RecordingTransport(
        lambda domain, address: Outcome.FAILED if address.startswith("f") else Outcome.DELIVERED
    )
    spool, queue = worker(tmp_path, transport, clock)
    spool_id = new_id(clock.now)
    spool.put_sync(
        QueuedMessage(
            id=spool_id,
            mail_from="a@a.test",
            recipients=(
                QueuedRecipient("f@b.test", notify=frozenset({Notify.NEVER})),
                QueuedRecipient("s@b.test", notify=frozenset({Notify.SUCCESS})),
            ),
            created=clock.now,
            size=len(BODY),
        ),
        BODY,
    )
    asyncio.run(queue.run_once())
    (notice,) = notifications(spool)
    raw = spool.read_message_sync(notice.id)
    assert b"Final-Recipient: rfc822;s@b.test" in raw and b"f@b.test" not in raw
    assert b"Action: relayed" in raw


def test_hold_and_local_recipients_are_left_alone(tmp_path: Path) -> None:
    clock = Clock()
    transport = RecordingTransport()
    spool, queue = worker(tmp_path, transport, clock)
    held = put(spool, clock, "x@b.test", extra={HOLD: "1"})
    local_id = new_id(clock.now + 1)
    spool.put_sync(
        QueuedMessage(
            id=local_id,
            mail_from="a@a.test",
            recipients=(QueuedRecipient("me@a.test", local_user_id=7),),
            created=clock.now,
            size=len(BODY),
        ),
        BODY,
    )
    asyncio.run(queue.run_once())
    assert transport.batches == []
    envelope = spool.load_sync(held)
    spool.update_sync(QueuedMessage(**{**_fields(envelope), "extra": {}}))
    asyncio.run(queue.run_once())
    assert [d for d, _ in transport.batches] == ["b.test"]
    assert spool.list_ids() == [local_id]


def _fields(envelope: QueuedMessage) -> dict[str, object]:
    return {name: getattr(envelope, name) for name in envelope.__slots__}  # type: ignore[attr-defined]


class StopAfter:
    """A transport that reports the first message, then dies as a killed process would."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(
        self, domain: str, batch: Sequence[OutboundMessage], report: ResultSink
    ) -> None:
        first = batch[0]
        self.sent.append(first.envelope.id)
        rows = [
            RecipientResult(r.address, Outcome.DELIVERED, "250 ok", "2.0.0")
            for r in first.recipients
        ]
        await report(first, rows)
        raise RuntimeError("killed")


def test_results_are_durable_message_by_message(tmp_path: Path) -> None:
    clock = Clock()
    transport = StopAfter()
    spool, queue = worker(tmp_path, transport, clock)
    ids = [put(spool, clock, "x@b.test") for _ in range(3)]
    asyncio.run(queue.run_once())
    # The reported message is gone from the spool; the others are untouched and due.
    assert len(transport.sent) == 1
    assert set(spool.list_ids()) == set(ids) - set(transport.sent)
    for spool_id in spool.list_ids():
        assert spool.load_sync(spool_id).recipients[0].attempts == 0
