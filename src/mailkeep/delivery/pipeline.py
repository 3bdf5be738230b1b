"""What happens after the end of DATA: trace headers, local copies, remote recipients spooled.

RFC 5321 4.4 (Received, Return-Path at final delivery), RFC 3848 and RFC 6531 4.3 (the
"with" protocol types ESMTPSA, UTF8SMTPS...), RFC 8314 4.3 and 7.4 (the "tls" clause naming
the cipher suite), RFC 3461 (DSN parameters kept with spooled recipients).

Implementation notes (invariants):

- ``Pipeline.deliver`` returns the reply to the end of DATA / BDAT LAST. A 250 means every
  local copy is durable (the store returns only then) and the remote recipients are fsynced
  in the spool. The message is parsed once by the store and written once per recipient set.
- Order: remote recipients to the spool first, then the local copies, then (only when some
  local copy was refused beside durable ones) the refused copies to the spool. A failure of
  the first write answers 451 with nothing durable. A failure of the last answers 451 after
  local copies exist; delivery.retry_ledger then remembers what is done, and the client's
  retry of the same message delivers only the rest: no duplicate while the process runs
  (a restart in between duplicates: never a loss; no two-phase commit across the store
  and the spool). An exception out of the store is remembered the same way.
- Local users a message reached through several envelope recipients get one copy.
- When some local mailboxes refuse their copy (over quota, temporary error) and others took
  it, the refused ones are spooled as a message of their own whose recipients carry
  ``local_user_id``; delivery.local_retry retries or reports them; the client gets 250.
  When every copy fails the client gets the store's answer (552 5.2.2 over quota, 451
  4.3.0 temporary).
- The store takes bytes, so the message is held in memory once while it is delivered;
  its size is bounded by smtp_limits.max_message_size, enforced by the core during DATA.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mailkeep.accounts.models import User
from mailkeep.delivery.retry_ledger import RetryLedger
from mailkeep.mail.address import Address
from mailkeep.protocol.smtp.grammar import Body, Notify, Ret
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.queue.models import QueuedMessage, QueuedRecipient
from mailkeep.queue.spool import Spool, new_id
from mailkeep.store.errors import QuotaExceeded, StoreError
from mailkeep.store.interface import MailStore
from mailkeep.store.models import INBOX, Recipient

log = logging.getLogger(__name__)

# Replies of the delivery step (RFC 3463 3.3, 3.5).
QUOTA_EXCEEDED = Reply(552, "5.2.2", "Mailbox full")
STORE_UNAVAILABLE = Reply(451, "4.3.0", "Mailbox temporarily unavailable, try again later")
SPOOL_UNAVAILABLE = Reply(451, "4.3.0", "Queue temporarily unavailable, try again later")

_MAX_HELO_SHOWN = 255  # RFC 1035 2.3.4: a domain name is at most 255 octets


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is on the other end of a session, as trace headers and policies need it."""

    conn_id: str
    listener: str  # "smtp", "submission", "submissions"
    ip: str
    helo: str | None = None
    esmtp: bool = True
    tls_version: str | None = None  # "TLSv1.3"; None without TLS
    tls_cipher: str | None = None  # "TLS_AES_256_GCM_SHA384"
    tls_bits: int = 0
    user: User | None = None  # the authenticated user (submission, or AUTH on the MX)


@dataclass(frozen=True, slots=True)
class Sender:
    """MAIL FROM and its parameters."""

    address: Address | None  # None = the null reverse-path <>
    size: int | None = None
    body: Body = Body.SEVEN_BIT
    smtputf8: bool = False
    ret: Ret | None = None
    envid: str | None = None
    requiretls: bool = False


@dataclass(frozen=True, slots=True)
class AcceptedRecipient:
    """One accepted RCPT and where it goes: local store recipients and remote addresses."""

    address: Address
    local: tuple[Recipient, ...] = ()
    remote: tuple[Address, ...] = ()
    notify: frozenset[Notify] = frozenset()
    orcpt: tuple[str, str] | None = None


@dataclass(slots=True)
class Transaction:
    """One mail transaction: the sender and the recipients accepted so far."""

    sender: Sender
    recipients: list[AcceptedRecipient] = field(default_factory=list)
    chunked: bool = False  # the message came by BDAT (RFC 3030)


class Pipeline:
    """Delivers accepted messages: local copies to the store, the rest to the spool."""

    def __init__(
        self,
        *,
        hostname: str,
        store: MailStore,
        spool: Spool,
        clock: Callable[[], float] = time.time,
        ledger: RetryLedger | None = None,
    ) -> None:
        self.hostname = hostname
        self.store = store
        self.spool = spool
        self.clock = clock
        self.ledger = ledger or RetryLedger(clock=clock)

    def new_id(self) -> str:
        return new_id(self.clock())

    async def deliver(
        self,
        client: ClientInfo,
        txn: Transaction,
        raw: bytes,
        *,
        message_id: str,
        prepend: bytes,
        original: bytes | None = None,
    ) -> Reply:
        """Deliver ``raw`` (``prepend``: header fields the policy adds on top, e.g. the
        Received field and Authentication-Results) and answer the end of DATA.

        ``original`` is the message as the client sent it when ``raw`` has fields added
        (submission's Date and Message-ID): retries of the client are recognised by it.
        """
        sender = txn.sender.address
        key, done = self.ledger.done(sender, raw if original is None else original)
        now = self.clock()
        local = [r for r in _unique_local(txn.recipients) if r.user_id not in done.local_user_ids]
        remote = _remote_recipients(txn.recipients, now, skip=done.remote_keys)
        message = prepend + raw
        # 1. The remote part first: when the spool fails, nothing is durable yet.
        if remote:
            try:
                envelope = self._envelope(client, txn, message_id, list(remote.values()), message)
                await self.spool.put(envelope, message)
            except OSError as exc:
                log.error("spool write failed", extra={"id": message_id, "error": str(exc)})
                return SPOOL_UNAVAILABLE
        # 2. Local copies, durable when the store returns.
        failed: dict[int, StoreError] = {}
        if local:
            try:
                results = await self.store.deliver(local, _return_path(sender) + message)
            except BaseException:
                self._remember(key, txn, raw, original, (), remote)
                raise
            pairs = zip(local, results, strict=True)
            failed = {r.user_id: e for r, e in pairs if isinstance(e, Exception)}
            anything_durable = bool(remote or done.local_user_ids or done.remote_keys)
            if failed and len(failed) == len(local) and not anything_durable:
                first = next(iter(failed.values()))
                log.info(
                    "local delivery failed",
                    extra={"id": message_id, "error": str(first), "recipients": len(local)},
                )
                return QUOTA_EXCEEDED if isinstance(first, QuotaExceeded) else STORE_UNAVAILABLE
        # 3. Refused local copies beside durable ones: a message of their own in the spool
        # (local retries are not the queue worker's). The only write that can fail after
        # local copies exist; then the ledger keeps the client's retry from repeating them.
        retry = _retry_recipients(txn.recipients, failed, now)
        if retry:
            try:
                retry_id = self.new_id()
                await self.spool.put(self._envelope(client, txn, retry_id, retry, message), message)
            except OSError as exc:
                delivered = [r.user_id for r in local if r.user_id not in failed]
                self._remember(key, txn, raw, original, delivered, remote)
                log.error(
                    "spool write failed after local copies",
                    extra={"id": message_id, "error": str(exc), "local": len(delivered)},
                )
                return SPOOL_UNAVAILABLE
        self.ledger.forget(key)
        log.info(
            "message accepted",
            extra={
                "id": message_id,
                "size": len(raw),
                "local": len(local) - len(failed),
                "queued": len(remote) + len(retry),
                "chunked": txn.chunked,
            },
        )
        return Reply(250, "2.0.0", f"Ok: queued as {message_id}")

    def _remember(
        self,
        key: bytes | None,
        txn: Transaction,
        raw: bytes,
        original: bytes | None,
        delivered: Sequence[int],
        remote: dict[str, QueuedRecipient],
    ) -> None:
        self.ledger.record(
            key,
            txn.sender.address,
            raw if original is None else original,
            local_user_ids=delivered,
            remote_keys=remote.keys(),
        )

    def _envelope(
        self,
        client: ClientInfo,
        txn: Transaction,
        spool_id: str,
        recipients: list[QueuedRecipient],
        message: bytes,
    ) -> QueuedMessage:
        return QueuedMessage(
            id=spool_id,
            mail_from=txn.sender.address.text if txn.sender.address else None,
            recipients=tuple(recipients),
            created=self.clock(),
            size=len(message),
            ret=txn.sender.ret,
            envid=txn.sender.envid,
            requiretls=txn.sender.requiretls,
            body=txn.sender.body,
            smtputf8=txn.sender.smtputf8,
            received_from=client.ip,
            authenticated_as=client.user.address.text if client.user else None,
        )

    def received_field(self, client: ClientInfo, txn: Transaction, message_id: str) -> bytes:
        """The Received field for this message (RFC 5321 4.4), CRLF-terminated."""
        return received_field(
            client,
            txn,
            hostname=self.hostname,
            message_id=message_id,
            date=email.utils.formatdate(self.clock(), localtime=False, usegmt=False),
        )


def received_field(
    client: ClientInfo, txn: Transaction, *, hostname: str, message_id: str, date: str
) -> bytes:
    """``Received: from HELO ([IP]) by HOST (mailkeep) with PROTO id ID [for <RCPT>]
    [tls CIPHER (VERSION)]; DATE`` folded over several lines."""
    helo = _printable(client.helo or "unknown")[:_MAX_HELO_SHOWN]
    ip = f"IPv6:{client.ip}" if ":" in client.ip else client.ip
    lines = [f"Received: from {helo} ([{ip}])", f"\tby {hostname} (mailkeep)"]
    lines.append(f"\twith {_protocol_type(client, txn)} id {message_id}")
    if len(txn.recipients) == 1:  # RFC 5321 7.2: never list several recipients
        lines.append(f"\tfor <{txn.recipients[0].address.text}>")
    if client.tls_cipher:
        # RFC 8314 7.4: the "tls" clause carries the cipher suite; version and bits in a comment.
        lines.append(f"\ttls {client.tls_cipher} ({client.tls_version} {client.tls_bits} bits)")
    lines[-1] += ";"
    lines.append(f"\t{date}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _protocol_type(client: ClientInfo, txn: Transaction) -> str:
    """RFC 3848 (ESMTPS, ESMTPA, ESMTPSA), RFC 6531 4.3 (UTF8SMTP...)."""
    if not client.esmtp:
        return "SMTP"
    base = "UTF8SMTP" if txn.sender.smtputf8 else "ESMTP"
    return base + ("S" if client.tls_cipher else "") + ("A" if client.user else "")


def _printable(text: str) -> str:
    return "".join(c if " " < c < "\x7f" or ord(c) > 0x9F else "?" for c in text)


def _return_path(sender: Address | None) -> bytes:
    """RFC 5321 4.4: the final delivery adds the reverse-path as Return-Path."""
    return f"Return-Path: <{sender.text if sender else ''}>\r\n".encode()


def _unique_local(recipients: Sequence[AcceptedRecipient]) -> list[Recipient]:
    seen: dict[int, Recipient] = {}
    for rcpt in recipients:
        for local in rcpt.local:
            seen.setdefault(local.user_id, local)
    return list(seen.values())


def _remote_recipients(
    recipients: Sequence[AcceptedRecipient], now: float, *, skip: frozenset[str]
) -> dict[str, QueuedRecipient]:
    """Spool entries for every remote address by its key (one per address), but those in
    ``skip``."""
    remote: dict[str, QueuedRecipient] = {}
    for rcpt in recipients:
        orcpt = rcpt.orcpt or ("rfc822", rcpt.address.text)
        for address in rcpt.remote:
            if address.key not in skip:
                remote.setdefault(
                    address.key, QueuedRecipient(address.text, rcpt.notify, orcpt, next_attempt=now)
                )
    return remote


def _retry_recipients(
    recipients: Sequence[AcceptedRecipient], failed: dict[int, StoreError], now: float
) -> list[QueuedRecipient]:
    """Spool entries for every refused local copy, one per user."""
    retry: dict[int, QueuedRecipient] = {}
    for rcpt in recipients:
        orcpt = rcpt.orcpt or ("rfc822", rcpt.address.text)
        for local in rcpt.local:
            error = failed.get(local.user_id)
            if error is not None and local.user_id not in retry:
                retry[local.user_id] = QueuedRecipient(
                    rcpt.address.text,
                    rcpt.notify,
                    orcpt,
                    next_attempt=now,
                    last_error=str(error),
                    local_user_id=local.user_id,
                    local_mailbox=local.mailbox if local.mailbox != INBOX else None,
                )
    return list(retry.values())
