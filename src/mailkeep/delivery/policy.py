"""The interface between the SMTP adapter and mail policy: what a listener accepts.

``net.smtp_server`` asks a MailPolicy about each MAIL, each RCPT and the end of the data;
``delivery.inbound.InboundPolicy`` (the MX) and ``delivery.submission.SubmissionPolicy``
implement it. Replies are ``protocol.smtp.replies.Reply`` values; the adapter sends them.
"""

from __future__ import annotations

from typing import Protocol

from mailkeep.delivery.pipeline import AcceptedRecipient, ClientInfo, Sender, Transaction
from mailkeep.mail.address import Address
from mailkeep.protocol.smtp.grammar import Notify
from mailkeep.protocol.smtp.replies import Reply


class MailPolicy(Protocol):
    """Decides MAIL, RCPT and the end of DATA for one kind of listener."""

    async def check_client(self, client: ClientInfo) -> Reply | None:
        """At connect, before the greeting: a refusal (sent instead of the 220), or None."""
        ...

    async def check_sender(self, client: ClientInfo, sender: Sender) -> Reply:
        """The reply to MAIL FROM (2xx accepts)."""
        ...

    async def check_recipient(
        self,
        client: ClientInfo,
        txn: Transaction,
        address: Address,
        notify: frozenset[Notify],
        orcpt: tuple[str, str] | None,
    ) -> AcceptedRecipient | Reply:
        """The accepted recipient, or the reply refusing it."""
        ...

    async def finish(self, client: ClientInfo, txn: Transaction, raw: bytes) -> Reply:
        """Check and deliver the message; the reply to the end of DATA / BDAT LAST."""
        ...
