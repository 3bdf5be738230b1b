"""Retries of local copies the store refused at the end of DATA while others took theirs.

RFC 5321 4.5.4.1 (retry with back-off), 6.1 (a failure is reported to the reverse-path,
never to <>), RFC 3461 4.1 (NOTIFY: absent means FAILURE and DELAY), RFC 3464 (the report,
mail.dsn).

Implementation notes (invariants):

- The pipeline spools such copies as a message of their own whose every recipient has
  ``local_user_id`` set. The queue worker leaves those recipients alone and never writes
  such an envelope, so this task is the only writer of it: no lost updates.
- Each due recipient is tried once per pass through ``MailStore.deliver`` with the user's
  current quota, into the mailbox the copy was meant for (Junk after a DMARC quarantine;
  INBOX when that mailbox has been deleted since); success marks it delivered; an error
  waits ``retry_seconds`` doubled per attempt (at most ``max_retry_seconds``); after
  ``give_up_seconds`` since arrival, or when the user is gone or disabled, it fails and a
  failure report goes to the sender (spooled like any message, for the worker) unless
  NOTIFY says otherwise.
- The envelope is updated (fsynced) after each pass over it, and removed when nothing is
  pending. A crash between a store delivery and the update delivers that copy again on the
  next pass: a duplicate, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mailkeep.accounts.directory import Directory
from mailkeep.mail import dsn
from mailkeep.protocol.smtp.grammar import Notify
from mailkeep.queue.models import QueuedMessage, QueuedRecipient, RecipientStatus
from mailkeep.queue.notifications import notification
from mailkeep.queue.spool import Spool
from mailkeep.store.errors import MailboxNotFound
from mailkeep.store.interface import MailStore
from mailkeep.store.models import INBOX, Quota, Recipient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LocalRetrySettings:
    hostname: str
    retry_seconds: float = 300.0  # RFC 5321 4.5.4.1: at least 30 minutes is advised remotely
    max_retry_seconds: float = 4 * 3600.0
    give_up_seconds: float = 5 * 86400.0  # RFC 5321 4.5.4.1: at least 4-5 days
    scan_interval_seconds: float = 60.0


def is_local_retry(envelope: QueuedMessage) -> bool:
    """A spooled message made of local copies to retry (and nothing else)."""
    return bool(envelope.recipients) and all(
        r.local_user_id is not None for r in envelope.recipients
    )


class LocalRetry:
    """The task that retries refused local copies; ``run`` until cancelled."""

    def __init__(
        self,
        *,
        spool: Spool,
        store: MailStore,
        directory: Directory,
        settings: LocalRetrySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.store = store
        self.directory = directory
        self.settings = settings
        self.clock = clock

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the boundary: log, keep retrying later
                log.exception("local retry pass failed")
            await asyncio.sleep(self.settings.scan_interval_seconds)

    async def run_once(self) -> int:
        """One pass; returns how many copies were tried."""
        tried = 0
        for envelope in await asyncio.to_thread(self._scan):
            tried += await self._retry(envelope)
        return tried

    def _scan(self) -> list[QueuedMessage]:
        found = []
        for spool_id in self.spool.list_ids():
            try:
                envelope = self.spool.load_sync(spool_id)
            except (FileNotFoundError, ValueError):
                continue  # removed meanwhile, or damaged (the worker logs those)
            if is_local_retry(envelope) and envelope.pending:
                found.append(envelope)
        return found

    async def _retry(self, envelope: QueuedMessage) -> int:
        now = self.clock()
        due = [r for r in envelope.pending if r.next_attempt <= now]
        if not due:
            return 0
        raw = await asyncio.to_thread(self.spool.read_message_sync, envelope.id)
        message = f"Return-Path: <{envelope.mail_from or ''}>\r\n".encode() + raw
        updated: dict[int, QueuedRecipient] = {}
        failures: list[dsn.RecipientStatus] = []
        for rcpt in due:
            new = await self._try_one(envelope, rcpt, message, now)
            updated[id(rcpt)] = new
            if new.status is RecipientStatus.FAILED and _wants_failure(new):
                failures.append(_failure_status(new, now))
        recipients = tuple(updated.get(id(r), r) for r in envelope.recipients)
        if failures and envelope.mail_from is not None:
            await self._report_failure(envelope, raw, failures, now)
        changed = envelope.with_recipients(recipients)
        if changed.pending:
            await self.spool.update(changed)
        else:
            await self.spool.remove(envelope.id)
        return len(due)

    async def _try_one(
        self, envelope: QueuedMessage, rcpt: QueuedRecipient, message: bytes, now: float
    ) -> QueuedRecipient:
        assert rcpt.local_user_id is not None
        attempts = rcpt.attempts + 1
        user = await asyncio.to_thread(self.directory.user_by_id, rcpt.local_user_id)
        if user is None or user.disabled:
            log.info("local retry: mailbox gone", extra={"id": envelope.id})
            return replace(
                rcpt,
                status=RecipientStatus.FAILED,
                attempts=attempts,
                last_error="5.1.1 mailbox no longer exists or is disabled",
            )
        quota = Quota(user.quota_bytes, user.quota_messages)
        mailbox = rcpt.local_mailbox or INBOX  # Junk for a DMARC quarantine
        [result] = await self.store.deliver([Recipient(user.id, quota, mailbox)], message)
        if isinstance(result, MailboxNotFound) and mailbox != INBOX:  # deleted meanwhile
            [result] = await self.store.deliver([Recipient(user.id, quota)], message)
        if not isinstance(result, Exception):
            log.info("local retry delivered", extra={"id": envelope.id, "attempts": attempts})
            return replace(rcpt, status=RecipientStatus.DELIVERED, attempts=attempts)
        error = str(result)
        if now - envelope.created >= self.settings.give_up_seconds:
            log.info("local retry gave up", extra={"id": envelope.id, "error": error})
            return replace(rcpt, status=RecipientStatus.FAILED, attempts=attempts, last_error=error)
        wait = min(
            self.settings.retry_seconds * 2 ** min(attempts - 1, 20),
            self.settings.max_retry_seconds,
        )
        return replace(rcpt, attempts=attempts, next_attempt=now + wait, last_error=error)

    async def _report_failure(
        self,
        envelope: QueuedMessage,
        original: bytes,
        statuses: list[dsn.RecipientStatus],
        now: float,
    ) -> None:
        queued, raw = notification(
            envelope, original, statuses, hostname=self.settings.hostname, now=now
        )
        await self.spool.put(queued, raw)


def _wants_failure(rcpt: QueuedRecipient) -> bool:
    """RFC 3461 4.1: no NOTIFY means FAILURE (and DELAY); NEVER means nothing."""
    return not rcpt.notify or Notify.FAILURE in rcpt.notify


def _failure_status(rcpt: QueuedRecipient, now: float) -> dsn.RecipientStatus:
    error = rcpt.last_error or ""
    status = "5.2.2" if "quota" in error else "5.0.0"
    if error[:5] == "5.1.1":
        status = "5.1.1"
    return dsn.RecipientStatus(
        final_recipient=rcpt.address,
        action=dsn.Action.FAILED,
        status=status,
        diagnostic=error,
        original_recipient=rcpt.orcpt,
        last_attempt=now,
    )
