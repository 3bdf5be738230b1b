"""The submission policy: mail from our users, to anyone (RFC 6409, RFC 8314).

RFC 6409 4.3 (authenticated submission), 6.1 (the MSA may check the sender), 8.2 and 8.3
(add Date and Message-ID when missing); RFC 5322 3.6.2 (From), 3.6.4 (Message-ID).

- The envelope sender and every address in From must be addresses the user may send as
  (``Directory.may_send_as``: their own, an alias reaching them, a subaddress of either, or
  any address of a domain they administer); else 550 5.7.1 with a text saying which.
- A message without a From field is refused (RFC 5322 3.6 requires one).
- Local recipients are delivered to the store, others spooled for the queue worker.

- Every message is DKIM-signed for its From domain (``SubmissionPolicy.signature_fields``,
  delivery.signing) before it is delivered locally or spooled, so local and remote copies
  carry the same signatures; a domain without keys is sent unsigned with a warning.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging

from mailkeep.accounts.directory import Directory
from mailkeep.delivery.pipeline import AcceptedRecipient, ClientInfo, Pipeline, Sender, Transaction
from mailkeep.delivery.routing import Router
from mailkeep.delivery.signing import DKIMSigner
from mailkeep.mail.address import Address, AddressError, parse_address
from mailkeep.mail.envelope import parse_address_list
from mailkeep.mail.headers import HeaderMap
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.grammar import Notify
from mailkeep.protocol.smtp.replies import Reply

log = logging.getLogger(__name__)

NULL_SENDER_REFUSED = Reply(550, "5.7.1", "An empty sender <> is not allowed on submission")
NO_FROM = Reply(550, "5.6.0", "Message refused: it has no From header field")
BAD_FROM = Reply(550, "5.6.0", "Message refused: the From header field has no valid address")
_HEADER_SCAN_LIMIT = 256 * 1024  # only the header block is looked at; it ends long before


def sender_not_yours(address: str, user: str) -> Reply:
    """550 5.7.1 naming the refused address and the logged-in user (RFC 3463 3.8)."""
    text = f"Sender address {address} is not one that {user} may send as"
    return Reply(550, "5.7.1", _printable(text))


def from_not_yours(address: str, user: str) -> Reply:
    text = f"From header address {address} is not one that {user} may send as"
    return Reply(550, "5.7.1", _printable(text))


class SubmissionPolicy:
    """MailPolicy of the submission and submissions listeners (and AUTH on the MX)."""

    def __init__(
        self,
        directory: Directory,
        router: Router,
        pipeline: Pipeline,
        signer: DKIMSigner | None = None,
    ) -> None:
        self.directory = directory
        self.router = router
        self.pipeline = pipeline
        self.signer = signer

    async def check_client(self, client: ClientInfo) -> Reply | None:
        """Clients log in: no screening of their address."""
        return None

    async def check_sender(self, client: ClientInfo, sender: Sender) -> Reply:
        user = client.user
        if user is None:
            return replies.AUTH_REQUIRED
        if sender.address is None:
            return NULL_SENDER_REFUSED
        if not await asyncio.to_thread(self.directory.may_send_as, user, sender.address):
            log.info("sender refused", extra={"mail_from": sender.address.text})
            return sender_not_yours(sender.address.text, user.address.text)
        return replies.MAIL_OK

    async def check_recipient(
        self,
        client: ClientInfo,
        txn: Transaction,
        address: Address,
        notify: frozenset[Notify],
        orcpt: tuple[str, str] | None,
    ) -> AcceptedRecipient | Reply:
        route = await self.router.route(address, size=txn.sender.size, relay=True)
        if isinstance(route, Reply):
            return route
        return AcceptedRecipient(address, route.local, route.remote, notify, orcpt)

    async def check_from(self, client: ClientInfo, raw: bytes) -> Reply | None:
        """None when every From address may be used by the user, else the refusal."""
        user = client.user
        assert user is not None
        header = HeaderMap(raw, 0, min(len(raw), _HEADER_SCAN_LIMIT))
        values = header.get_all(b"from")
        if not values:
            return NO_FROM
        found = False
        for value in values:
            for entry in parse_address_list(value):
                if entry.host is None:
                    continue  # group markers
                spec = entry.addr_spec
                try:
                    address = parse_address(spec)
                except AddressError:
                    return BAD_FROM
                found = True
                if not await asyncio.to_thread(self.directory.may_send_as, user, address):
                    log.info("from header refused", extra={"from": address.text})
                    return from_not_yours(address.text, user.address.text)
        return None if found else BAD_FROM

    def missing_fields(self, raw: bytes, message_id: str) -> bytes:
        """Date and Message-ID for a message that lacks them (RFC 6409 8.2, 8.3)."""
        header = HeaderMap(raw, 0, min(len(raw), _HEADER_SCAN_LIMIT))
        added = b""
        if header.get(b"date") is None:
            date = email.utils.formatdate(self.pipeline.clock(), localtime=False)
            added += f"Date: {date}\r\n".encode()
        if header.get(b"message-id") is None:
            added += f"Message-ID: <{message_id}@{self.pipeline.hostname}>\r\n".encode()
        return added

    async def signature_fields(
        self, client: ClientInfo, txn: Transaction, raw: bytes
    ) -> bytes | Reply:
        """DKIM-SIGNING HOOK: the DKIM-Signature fields for ``raw`` (b"" without a signer
        or keys), or the refusal of a message that cannot be signed."""
        if self.signer is None:
            return b""
        return await self.signer.signature_fields(raw)

    async def finish(self, client: ClientInfo, txn: Transaction, raw: bytes) -> Reply:
        refusal = await self.check_from(client, raw)
        if refusal is not None:
            return refusal
        message_id = self.pipeline.new_id()
        message = self.missing_fields(raw, message_id) + raw
        signature = await self.signature_fields(client, txn, message)
        if isinstance(signature, Reply):
            return signature
        prepend = self.pipeline.received_field(client, txn, message_id) + signature
        return await self.pipeline.deliver(
            client, txn, message, message_id=message_id, prepend=prepend, original=raw
        )


def _printable(text: str) -> str:
    """Reply text must not carry control characters; addresses are checked, but be safe."""
    return "".join(c if c >= " " and c != "\x7f" else "?" for c in text)
