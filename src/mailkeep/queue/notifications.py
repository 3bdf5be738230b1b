"""Delivery status notifications (RFC 3464) about a queued message, as new queue entries.

Both the outbound worker (bounces, delay warnings, success reports) and the local retry
(copies the store kept refusing) report through here, so a notification is built one way:
sent from the null sender (RFC 5321 6.1), to the original envelope sender, with a Message-ID
and MIME boundary made from the original's queue id and a random token.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from mailkeep.mail import dsn
from mailkeep.protocol.smtp.grammar import Body, Ret
from mailkeep.queue.models import QueuedMessage, QueuedRecipient
from mailkeep.queue.spool import new_id


def notification(
    envelope: QueuedMessage,
    original: bytes,
    statuses: Iterable[dsn.RecipientStatus],
    *,
    hostname: str,
    now: float,
) -> tuple[QueuedMessage, bytes]:
    """(the notification's envelope, its bytes) reporting ``statuses`` of ``envelope``,
    whose content is ``original``. The caller checks that there is a sender to notify."""
    sender = envelope.mail_from
    assert sender is not None, "never bounce a bounce (RFC 5321 6.1)"
    token = secrets.token_hex(8)
    raw = dsn.build_report(
        dsn.Report(
            reporting_mta=hostname,
            postmaster=f"MAILER-DAEMON@{hostname}",
            recipient=sender,
            original=original,
            return_full=envelope.ret is Ret.FULL,
            arrival=envelope.created,
            envid=envelope.envid,
            statuses=tuple(statuses),
        ),
        now=now,
        message_id=f"{envelope.id}.{token}@{hostname}",
        boundary=f"{envelope.id}/{token}/{hostname}",
    )
    queued = QueuedMessage(
        id=new_id(now),
        mail_from=None,  # RFC 5321 6.1: reports are sent from <>
        recipients=(QueuedRecipient(sender, next_attempt=now),),
        created=now,
        size=len(raw),
        smtputf8=not sender.isascii(),
        body=Body.SEVEN_BIT if raw.isascii() else Body.EIGHT_BIT_MIME,
        extra={"notification_for": envelope.id},
    )
    return queued, raw
