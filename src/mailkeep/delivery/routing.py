"""Where an envelope recipient goes, and whether its mailboxes can take mail now.

RFC 5321 3.6.2 and 7.3 (open relays), RFC 3463 (5.1.1 unknown user, 5.2.1 disabled, 4.2.2 /
5.2.2 mailbox full, 5.4.6 routing loop, 5.7.1 relaying denied).

Address tricks need no special case: the core drops source routes, and ``%``, ``!`` or a
quoted ``"a@b"`` in the local part stay in the local part of an address in *our* domain,
which the directory looks up like any other (no such user, or the catch-all). An address
literal domain (``user@[192.0.2.1]``) is never local.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mailkeep.accounts.directory import Directory
from mailkeep.accounts.models import Outcome, Resolution, User
from mailkeep.mail.address import Address
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.store.interface import MailStore
from mailkeep.store.models import Quota, Recipient

RELAY_DENIED = Reply(550, "5.7.1", "Relaying denied: this server only accepts mail for its domains")
NO_SUCH_USER = Reply(550, "5.1.1", "No such user here")
MAILBOX_DISABLED = Reply(550, "5.2.1", "Mailbox disabled, not accepting messages")
ROUTING_LOOP = Reply(550, "5.4.6", "Routing loop detected for this address")
MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full, try again later")  # RFC 3463 3.3
MESSAGE_TOO_BIG_FOR_MAILBOX = Reply(552, "5.2.2", "Message larger than the mailbox quota")

_OUTCOME_REPLIES = {
    Outcome.NO_SUCH_USER: NO_SUCH_USER,
    Outcome.DISABLED: MAILBOX_DISABLED,
    Outcome.LOOP: ROUTING_LOOP,
    Outcome.NOT_LOCAL_DOMAIN: RELAY_DENIED,
}


@dataclass(frozen=True, slots=True)
class Route:
    """An accepted recipient's targets."""

    local: tuple[Recipient, ...]
    remote: tuple[Address, ...]


class Router:
    """Resolves recipients with the directory and checks quotas with the store."""

    def __init__(self, directory: Directory, store: MailStore) -> None:
        self.directory = directory
        self.store = store

    async def route(self, address: Address, *, size: int | None, relay: bool) -> Route | Reply:
        """The route for ``address``, or the reply refusing it. ``relay``: a remote address
        is accepted as a remote recipient (authenticated submission); otherwise refused."""
        resolution, users = await asyncio.to_thread(self._lookup, address)
        if resolution.outcome is Outcome.NOT_LOCAL_DOMAIN and relay:
            return Route((), (address,))
        if resolution.outcome is not Outcome.DELIVER:
            return _OUTCOME_REPLIES[resolution.outcome]
        local: list[Recipient] = []
        refusal: Reply | None = None
        for user in users:
            problem = await self._quota_problem(user, size)
            if problem is not None:
                refusal = refusal or problem
                continue
            local.append(Recipient(user.id, Quota(user.quota_bytes, user.quota_messages)))
        if not local and not resolution.remote:
            return refusal or NO_SUCH_USER
        return Route(tuple(local), resolution.remote)

    def _lookup(self, address: Address) -> tuple[Resolution, list[User]]:
        """Resolution and the enabled users it reaches, in one trip to a worker thread."""
        resolution = self.directory.resolve(address)
        users = []
        for target in resolution.local:
            user = self.directory.user_by_id(target.user_id)
            if user is not None and not user.disabled:
                users.append(user)
        return resolution, users

    async def _quota_problem(self, user: User, size: int | None) -> Reply | None:
        """RFC 1870 6.1 and RFC 3463: a declared SIZE over the whole quota can never fit
        (552 5.2.2); a mailbox already full may empty (452 4.2.2)."""
        if not user.quota_bytes and not user.quota_messages:
            return None
        if size is not None and user.quota_bytes and size > user.quota_bytes:
            return MESSAGE_TOO_BIG_FOR_MAILBOX
        usage = await self.store.quota_usage(user.id)
        if user.quota_bytes and usage.bytes + (size or 0) > user.quota_bytes:
            return MAILBOX_FULL
        if user.quota_messages and usage.messages >= user.quota_messages:
            return MAILBOX_FULL
        return None
