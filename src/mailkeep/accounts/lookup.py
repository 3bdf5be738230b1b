"""What the protocols ask of the accounts, as an interface (DESIGN 3.9).

``Directory`` implements it; ``Directory(None)`` (in memory, same code) is the fake for
tests of the components that use it. Every method is blocking (SQLite, argon2): call it
from asyncio with ``await asyncio.to_thread(lookup.resolve, address)``.
"""

from __future__ import annotations

from typing import Protocol

from mailkeep.accounts.models import Resolution, User
from mailkeep.mail.address import Address


class AccountLookup(Protocol):
    """The reads SMTP, IMAP and POP3 make."""

    def resolve(self, address: Address | str) -> Resolution:
        """Where mail for an envelope recipient goes (SMTP RCPT)."""
        ...

    def authenticate(self, login: str, password: str) -> User | None:
        """The enabled user whose full address and password these are, else None."""
        ...

    def may_send_as(self, user: User, address: Address | str) -> bool:
        """May ``user`` send with ``address`` as the envelope or From sender (submission)."""
        ...

    def is_local_domain(self, domain: str) -> bool:
        """Is mail for ``domain`` ours (MX: accept, not relay)?"""
        ...

    def user_by_id(self, user_id: int) -> User | None:
        """The user with this id (the store's key), or None if deleted."""
        ...
