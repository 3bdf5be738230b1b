"""The MX policy: mail from the world for our domains only.

RFC 5321 3.6.2 and 7.1 (no open relay), 4.4 (Received), RFC 3463 (status codes).

Every RCPT is resolved at RCPT time (unknown users are refused then, never bounced later);
a recipient outside our domains is refused with 550 5.7.1 whatever its form (see
delivery.routing). Authenticated clients never reach this policy: the adapter gives their
transactions to the submission policy.

Mail authentication (delivery.authentication): a DNSBL listing may refuse MAIL FROM (when
configured); at the end of DATA ``InboundPolicy.authentication_fields`` runs SPF, DKIM, ARC
and DMARC, removes incoming Authentication-Results claiming our host name (RFC 8601 5) and
returns our field, or the refusal DMARC asks for; a quarantine delivers the local copies to
each recipient's Junk mailbox (RFC 7489 6.3, RFC 6154 2 \\Junk). Without an authenticator
(unit tests of routing) messages pass unchecked.
"""

from __future__ import annotations

import dataclasses
import logging

from mailkeep.delivery.authentication import Checked, InboundAuthenticator
from mailkeep.delivery.pipeline import AcceptedRecipient, ClientInfo, Pipeline, Sender, Transaction
from mailkeep.delivery.routing import Router
from mailkeep.mail.address import Address
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.grammar import Notify
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.store.models import INBOX, SpecialUse

log = logging.getLogger(__name__)


class InboundPolicy:
    """MailPolicy of the MX listener."""

    def __init__(
        self, router: Router, pipeline: Pipeline, auth: InboundAuthenticator | None = None
    ) -> None:
        self.router = router
        self.pipeline = pipeline
        self.auth = auth

    async def check_client(self, client: ClientInfo) -> Reply | None:
        """The DNSBL screen of the client's IP, at connect (its answers are cached for the
        X-DNSBL field added at the end of DATA)."""
        if self.auth is None:
            return None
        return await self.auth.check_client(client)

    async def check_sender(self, client: ClientInfo, sender: Sender) -> Reply:
        return replies.MAIL_OK

    async def check_recipient(
        self,
        client: ClientInfo,
        txn: Transaction,
        address: Address,
        notify: frozenset[Notify],
        orcpt: tuple[str, str] | None,
    ) -> AcceptedRecipient | Reply:
        route = await self.router.route(address, size=txn.sender.size, relay=False)
        if isinstance(route, Reply):
            log.info(
                "recipient refused",
                extra={"rcpt": address.text, "reply": f"{route.code} {route.enhanced}"},
            )
            return route
        return AcceptedRecipient(address, route.local, route.remote, notify, orcpt)

    async def authentication_fields(
        self, client: ClientInfo, txn: Transaction, raw: bytes
    ) -> Checked | Reply:
        """MAIL-AUTH HOOK: SPF, DKIM, ARC and DMARC (delivery.authentication); the fields to
        add and the message to deliver, or a Reply when DMARC says reject."""
        if self.auth is None:
            return Checked(b"", raw)
        return await self.auth.check(client, txn, raw)

    async def finish(self, client: ClientInfo, txn: Transaction, raw: bytes) -> Reply:
        message_id = self.pipeline.new_id()
        checked = await self.authentication_fields(client, txn, raw)
        if isinstance(checked, Reply):
            log.info("message refused", extra={"id": message_id, "reply": str(checked.code)})
            return checked
        if checked.junk:
            txn = await self.to_junk(txn)
        prepend = self.pipeline.received_field(client, txn, message_id) + checked.fields
        return await self.pipeline.deliver(
            client, txn, checked.message, message_id=message_id, prepend=prepend, original=raw
        )

    async def to_junk(self, txn: Transaction) -> Transaction:
        """The transaction with every local copy going to its user's Junk mailbox."""
        boxes: dict[int, str] = {}
        accepted = []
        for rcpt in txn.recipients:
            local = []
            for target in rcpt.local:
                if target.user_id not in boxes:
                    boxes[target.user_id] = await self.junk_mailbox(target.user_id)
                local.append(dataclasses.replace(target, mailbox=boxes[target.user_id]))
            accepted.append(dataclasses.replace(rcpt, local=tuple(local)))
        return dataclasses.replace(txn, recipients=accepted)

    async def junk_mailbox(self, user_id: int) -> str:
        """The mailbox with the \\Junk special use (RFC 6154 2), else INBOX."""
        for info in await self.pipeline.store.list_mailboxes(user_id):
            if info.special_use is SpecialUse.JUNK:
                return info.name
        return INBOX
