"""The MX policy: mail from the world for our domains only.

RFC 5321 3.6.2 and 7.1 (no open relay), 4.4 (Received), RFC 3463 (status codes).

Every RCPT is resolved at RCPT time (unknown users are refused then, never bounced later);
a recipient outside our domains is refused with 550 5.7.1 whatever its form (see
delivery.routing). Authenticated clients never reach this policy: the adapter gives their
transactions to the submission policy.

The hook for SPF/DKIM/DMARC (``mailauth.check``) is ``InboundPolicy.authentication_fields``:
it returns the header fields (Authentication-Results) to put on top of the message, or a
refusal; it adds nothing yet and is wired where the checks belong.
"""

from __future__ import annotations

import logging

from mailkeep.delivery.pipeline import AcceptedRecipient, ClientInfo, Pipeline, Sender, Transaction
from mailkeep.delivery.routing import Router
from mailkeep.mail.address import Address
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.grammar import Notify
from mailkeep.protocol.smtp.replies import Reply

log = logging.getLogger(__name__)


class InboundPolicy:
    """MailPolicy of the MX listener."""

    def __init__(self, router: Router, pipeline: Pipeline) -> None:
        self.router = router
        self.pipeline = pipeline

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
    ) -> bytes | Reply:
        """MAIL-AUTH HOOK: SPF, DKIM, ARC and DMARC (mailauth.check) go here; their
        Authentication-Results field is returned, or a Reply when DMARC says reject."""
        return b""

    async def finish(self, client: ClientInfo, txn: Transaction, raw: bytes) -> Reply:
        message_id = self.pipeline.new_id()
        checked = await self.authentication_fields(client, txn, raw)
        if isinstance(checked, Reply):
            return checked
        prepend = self.pipeline.received_field(client, txn, message_id) + checked
        return await self.pipeline.deliver(client, txn, raw, message_id=message_id, prepend=prepend)
