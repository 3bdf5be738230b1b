"""The queue worker: drains the spool through a Transport, retries, warns and bounces.

RFC 5321 4.5.4.1 (retry strategy), 4.5.5 and 6.1 (a notification goes to the reverse-path
with a null reverse-path of its own; nothing is bounced to <>), RFC 3461 4.1 (NOTIFY
decides which notifications go out; absent means FAILURE and DELAY), RFC 3464 (their form,
mail.dsn).

Implementation notes (invariants):

- Pending recipients due now are grouped by destination domain; each domain's messages go
  in batches of at most ``max_messages_per_connection`` (one connection each), at most
  ``max_connections_per_domain`` batches per domain and ``max_connections`` in all at once.
- The transport reports each message as soon as its fate is known, and the new envelope is
  fsynced (``Spool.update``) before the transport goes on; so ``kill -9`` at any moment
  re-sends at most the message whose end of data was in flight (what RFC 5321 6.1 allows).
- Envelope changes for one message are serialised by a per-message lock; the worker keeps a
  cache of envelopes keyed by file mtime, so a change made by ``mailkeep queue`` (retry,
  hold, delete) is seen on the next pass.
- A message is removed from the spool when no recipient is pending, after its
  notifications are in the spool (a notification is queued before the state that caused it
  is written, so a crash between the two can send it twice but never lose it). The
  envelope goes at once (the commit), the message file at the end of the batch
  (``Spool.forget_sync`` and ``collect_sync``; ``sweep`` after a crash).
- Recipients with ``local_user_id`` belong to local delivery and are left alone here.
- ``extra`` keys used: ``hold`` ("1": not tried until released), ``warned`` ("1": the delay
  notification went out).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from mailkeep.mail import dsn
from mailkeep.protocol.smtp.grammar import Notify
from mailkeep.queue.models import QueuedMessage, QueuedRecipient, RecipientStatus
from mailkeep.queue.notifications import notification
from mailkeep.queue.schedule import RetrySchedule, Verdict
from mailkeep.queue.spool import Spool
from mailkeep.queue.transport import OutboundMessage, Outcome, RecipientResult, Transport

log = logging.getLogger(__name__)

HOLD = "hold"
WARNED = "warned"

# Where notifications go: by default into the same spool, as new messages from <>.
NotificationSink = Callable[[QueuedMessage, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    hostname: str  # Reporting-MTA and the notifications' From domain
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    max_connections: int = 100
    max_connections_per_domain: int = 10
    max_messages_per_connection: int = 100
    scan_interval: float = 5.0  # seconds between passes when nothing wakes the worker


@dataclass(slots=True)
class PassReport:
    """What one pass did (for logs, tests and the benchmark)."""

    messages: int = 0
    delivered: int = 0
    deferred: int = 0
    failed: int = 0
    notifications: int = 0


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _wants(recipient: QueuedRecipient, kind: Notify) -> bool:
    """RFC 3461 4.1: NEVER means none; absent means FAILURE and DELAY."""
    if Notify.NEVER in recipient.notify:
        return False
    if not recipient.notify:
        return kind in (Notify.FAILURE, Notify.DELAY)
    return kind in recipient.notify


class QueueWorker:
    """See the module docstring. ``run`` forever, or ``run_once`` for one pass."""

    def __init__(
        self,
        spool: Spool,
        transport: Transport,
        settings: WorkerSettings,
        *,
        clock: Callable[[], float] = time.time,
        notify: NotificationSink | None = None,
    ) -> None:
        self.spool = spool
        self.transport = transport
        self.settings = settings
        self.clock = clock
        self._notify = notify or self._queue_notification
        # Envelopes by spool id, with the (mtime, inode, size) they were read at. The mtime
        # alone is not enough: two rewrites within one clock tick share it.
        self._cache: dict[str, tuple[tuple[int, int, int], QueuedMessage]] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._inflight: set[tuple[str, str]] = set()
        self._connections = asyncio.Semaphore(settings.max_connections)
        self._per_domain: dict[str, asyncio.Semaphore] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._report = PassReport()
        self._garbage: collections.deque[str] = collections.deque()  # ids, files to remove

    # -- running ---------------------------------------------------------------------------

    def wake(self) -> None:
        """New mail was spooled (or released): start a pass now."""
        self._wake.set()

    async def run(self) -> None:
        """Pass after pass until cancelled; in-flight batches are cancelled with it (their
        messages stay pending in the spool)."""
        try:  # (the spool was swept at start-up, before any listener could write to it)
            while True:
                self._wake.clear()
                try:
                    await self.run_once(wait=False)
                except Exception:  # the boundary: log, keep the queue running
                    log.exception("queue pass failed")
                try:
                    async with asyncio.timeout(self.settings.scan_interval):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run_once(self, *, wait: bool = True) -> PassReport:
        """One pass: every due recipient not already in flight is tried once. With
        ``wait`` it returns when those attempts are over, with what they did."""
        self._report = report = PassReport()
        now = self.clock()
        envelopes = await asyncio.to_thread(self._scan)
        by_domain: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
        for envelope in envelopes:
            await self._maybe_warn(envelope, now)
            if envelope.extra.get(HOLD) == "1":
                continue
            due: dict[str, list[str]] = defaultdict(list)
            for rcpt in envelope.pending:
                if rcpt.local_user_id is None and rcpt.next_attempt <= now:
                    due[domain_of(rcpt.address)].append(rcpt.address)
            for domain, addresses in due.items():
                if (envelope.id, domain) not in self._inflight:
                    self._inflight.add((envelope.id, domain))
                    by_domain[domain].append((envelope.id, tuple(addresses)))
        started = []
        size = self.settings.max_messages_per_connection
        for domain, items in by_domain.items():
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                task = asyncio.create_task(self._send_batch(domain, chunk))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started.append(task)
        report.messages = sum(len(items) for items in by_domain.values())
        if wait and started:
            await asyncio.gather(*started)
        await self._collect()
        return report

    # -- the spool ----------------------------------------------------------------------

    def _scan(self) -> list[QueuedMessage]:
        """Every committed envelope, re-read only when its file changed (a thread)."""
        seen: dict[str, tuple[tuple[int, int, int], QueuedMessage]] = {}
        envelopes_dir = self.spool.envelope_path("0").parent
        with os.scandir(envelopes_dir) as entries:
            for entry in entries:
                if not entry.name.endswith(".json"):
                    continue
                spool_id = entry.name[:-5]
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                version = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
                cached = self._cache.get(spool_id)
                if cached is not None and cached[0] == version:
                    seen[spool_id] = cached
                    continue
                try:
                    seen[spool_id] = (version, self.spool.load_sync(spool_id))
                except FileNotFoundError:
                    continue
                except ValueError as exc:  # SpoolFormatError: leave it for a person
                    log.error(
                        "queue unreadable envelope", extra={"id": spool_id, "reason": str(exc)}
                    )
        self._cache = seen
        return [seen[k][1] for k in sorted(seen)]

    async def _current(self, spool_id: str) -> QueuedMessage | None:
        try:
            return await self.spool.load(spool_id)
        except FileNotFoundError:
            return None  # deleted meanwhile (mailkeep queue delete)

    # -- one batch -----------------------------------------------------------------------

    def _domain_semaphore(self, domain: str) -> asyncio.Semaphore:
        semaphore = self._per_domain.get(domain)
        if semaphore is None:
            semaphore = asyncio.Semaphore(self.settings.max_connections_per_domain)
            self._per_domain[domain] = semaphore
        return semaphore

    async def _send_batch(self, domain: str, items: list[tuple[str, tuple[str, ...]]]) -> None:
        try:
            async with self._domain_semaphore(domain), self._connections:
                batch = await asyncio.to_thread(self._load_batch, items)
                if batch:
                    await self.transport.deliver(domain, batch, self._record)
        except Exception:  # the boundary: the messages stay pending, the queue goes on
            log.exception("queue batch failed", extra={"domain": domain})
        finally:
            for spool_id, _ in items:
                self._inflight.discard((spool_id, domain))
            await self._collect()

    async def _collect(self) -> None:
        """Remove the message files of messages found done since the last call."""
        ids = []
        while self._garbage:
            ids.append(self._garbage.popleft())
        if ids:
            await asyncio.to_thread(self.spool.collect_sync, ids)

    def _load_batch(self, items: list[tuple[str, tuple[str, ...]]]) -> list[OutboundMessage]:
        """The messages to send, from their current envelopes: a recipient delivered,
        failed or rescheduled since the scan is left out."""
        now = self.clock()
        batch = []
        for spool_id, addresses in items:
            try:
                envelope = self.spool.load_sync(spool_id)
                content = self.spool.read_message_sync(spool_id)
            except FileNotFoundError:
                continue
            if envelope.extra.get(HOLD) == "1":
                continue
            wanted = set(addresses)
            recipients = tuple(
                r for r in envelope.pending if r.address in wanted and r.next_attempt <= now
            )
            if recipients:
                batch.append(OutboundMessage(envelope, recipients, content))
        return batch

    async def _record(self, item: OutboundMessage, results: list[RecipientResult]) -> None:
        """Make one message's results durable (and queue its notifications first)."""
        spool_id = item.envelope.id
        async with self._locks[spool_id]:
            now = self.clock()
            # One thread hop for the common case: read, apply, write (or remove).
            done = await asyncio.to_thread(self._record_sync, spool_id, results, now, True)
            if done is None:
                return  # deleted meanwhile (mailkeep queue delete)
            envelope, notices, outcomes, written = done
            for outcome in outcomes:
                self._count(outcome)
            if not written:
                await self._send_notification(envelope, item.content, notices, now)
                await asyncio.to_thread(self._write_sync, envelope)
            if not envelope.pending:
                self._locks.pop(spool_id, None)

    def _count(self, outcome: Outcome) -> None:
        report = self._report
        if outcome is Outcome.DELIVERED:
            report.delivered += 1
        elif outcome is Outcome.DEFERRED:
            report.deferred += 1
        else:
            report.failed += 1

    def _record_sync(
        self, spool_id: str, results: list[RecipientResult], now: float, write: bool
    ) -> tuple[QueuedMessage, list[dsn.RecipientStatus], list[Outcome], bool] | None:
        """(new envelope, notifications due, outcomes, written). The state is written here
        only when no notification is due (a notification is queued before its cause)."""
        try:
            envelope = self.spool.load_sync(spool_id)
        except FileNotFoundError:
            return None
        by_address = {r.address: r for r in results}
        updated: list[QueuedRecipient] = []
        notices: list[dsn.RecipientStatus] = []
        outcomes: list[Outcome] = []
        for rcpt in envelope.recipients:
            result = by_address.get(rcpt.address)
            if result is None or rcpt.status is not RecipientStatus.PENDING:
                updated.append(rcpt)
                continue
            new, notice = self._apply(envelope, rcpt, result, now)
            updated.append(new)
            if new.status is RecipientStatus.DELIVERED:
                outcomes.append(Outcome.DELIVERED)
            elif new.status is RecipientStatus.FAILED:
                outcomes.append(Outcome.FAILED)
            else:
                outcomes.append(Outcome.DEFERRED)
            if notice is not None:
                notices.append(notice)
        envelope = envelope.with_recipients(tuple(updated))
        written = write and not notices
        if written:
            self._write_sync(envelope)
        return envelope, notices, outcomes, written

    def _write_sync(self, envelope: QueuedMessage) -> None:
        if envelope.pending:
            self.spool.update_sync(envelope)
        else:
            # No directory fsync: only a power loss could bring the message back, and then
            # it is sent again (RFC 5321 6.1 tolerates duplicates, never loss). The message
            # file goes later, in one thread hop per batch (_collect).
            self.spool.forget_sync(envelope.id)
            self._garbage.append(envelope.id)

    def _apply(
        self,
        envelope: QueuedMessage,
        rcpt: QueuedRecipient,
        result: RecipientResult,
        now: float,
    ) -> tuple[QueuedRecipient, dsn.RecipientStatus | None]:
        attempts = rcpt.attempts + 1
        outcome = result.outcome
        log.info(
            "queue attempt",
            extra={
                "id": envelope.id,
                "rcpt": rcpt.address,
                "outcome": outcome.value,
                "status": result.status,
                "detail": result.detail,
            },
        )
        detail = result.detail
        if outcome is Outcome.DEFERRED:
            deferral = self.settings.schedule.after_failure(
                created=envelope.created, attempts=attempts, now=now
            )
            if deferral.verdict is Verdict.RETRY:
                new = replace(
                    rcpt, attempts=attempts, next_attempt=deferral.next_attempt, last_error=detail
                )
                return new, None
            outcome = Outcome.FAILED
            detail = f"gave up after {attempts} attempts; last: {detail}"
        if outcome is Outcome.DELIVERED:
            new = replace(rcpt, status=RecipientStatus.DELIVERED, attempts=attempts)
            kind, action = Notify.SUCCESS, dsn.Action.RELAYED
        else:
            new = replace(rcpt, status=RecipientStatus.FAILED, attempts=attempts, last_error=detail)
            kind, action = Notify.FAILURE, dsn.Action.FAILED
        if envelope.mail_from is None or not _wants(rcpt, kind):
            return new, None
        status = result.status if outcome is result.outcome else "4.4.7"  # 4.4.7: expired
        if action is dsn.Action.FAILED and status.startswith("4"):
            status = "5" + status[1:]  # RFC 3464 2.3.4: a failed action has a 5.x.x status
        return new, dsn.RecipientStatus(
            final_recipient=rcpt.address,
            action=action,
            status=status,
            diagnostic=detail,
            diagnostic_is_smtp=result.smtp_reply and outcome is result.outcome,
            original_recipient=rcpt.orcpt,
            remote_mta=result.remote_mta,
            last_attempt=now,
        )

    # -- notifications ---------------------------------------------------------------------

    async def _maybe_warn(self, envelope: QueuedMessage, now: float) -> None:
        """RFC 3464 delay notification, once, for recipients still pending after warn_after."""
        schedule = self.settings.schedule
        if not schedule.warning_due(
            created=envelope.created, now=now, warned=envelope.extra.get(WARNED) == "1"
        ):
            return
        async with self._locks[envelope.id]:
            current = await self._current(envelope.id)
            if current is None or current.extra.get(WARNED) == "1" or not current.pending:
                return
            notices = [
                dsn.RecipientStatus(
                    final_recipient=r.address,
                    action=dsn.Action.DELAYED,
                    status=_delay_status(r.last_error),
                    diagnostic=r.last_error or "",
                    original_recipient=r.orcpt,
                    will_retry_until=current.created + schedule.give_up_after,
                )
                for r in current.pending
                if r.local_user_id is None and _wants(r, Notify.DELAY)
            ]
            if notices and current.mail_from is not None:
                content = await asyncio.to_thread(self.spool.read_message_sync, current.id)
                await self._send_notification(current, content, notices, now)
            extra = dict(current.extra)
            extra[WARNED] = "1"
            await self.spool.update(replace(current, extra=extra))

    async def _send_notification(
        self,
        envelope: QueuedMessage,
        content: bytes,
        statuses: Iterable[dsn.RecipientStatus],
        now: float,
    ) -> None:
        if envelope.mail_from is None:  # RFC 5321 6.1: never bounce a bounce
            return
        queued, raw = notification(
            envelope, content, statuses, hostname=self.settings.hostname, now=now
        )
        self._report.notifications += 1
        log.info("queue notification", extra={"id": queued.id, "about": envelope.id})
        await self._notify(queued, raw)

    async def _queue_notification(self, envelope: QueuedMessage, raw: bytes) -> None:
        await self.spool.put(envelope, raw)
        self.wake()


def _delay_status(last_error: str | None) -> str:
    """A 4.x.x status for a delay notification from the last reason, if it has one."""
    if last_error:
        for word in last_error.split()[:3]:
            if word.count(".") == 2 and word.startswith("4."):
                return word
    return "4.0.0"
