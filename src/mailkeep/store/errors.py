"""Errors the store raises on purpose.

StoreError (a MailkeepError)
├── MailboxNotFound       no mailbox of that name / id (or it was deleted meanwhile)
├── MailboxExists         CREATE or RENAME onto a name that is taken
├── InvalidMailboxName    empty level, control character, "..", too long or too deep
├── MailboxNotAllowed     the operation is refused for this mailbox (delete INBOX, delete a
│                         mailbox that has children, too many mailboxes)
├── InvalidKeyword        a keyword that is not an IMAP atom (or starts with "\\")
├── MessageNotFound       no message with that UID (expunged meanwhile)
├── QuotaExceeded         storage or message-count limit; says which, the limit and the use
├── MetadataTooLarge, MetadataTooMany, MetadataLimitReached   annotation limits (RFC 5464)
└── StoreTemporaryError   disk full, permission denied, I/O error: try again later (SMTP 4xx,
                          IMAP NO [SERVERBUG] / [UNAVAILABLE]); nothing was half-stored

The IMAP layer maps MailboxNotFound to NO [NONEXISTENT], MailboxExists to NO [ALREADYEXISTS],
QuotaExceeded to NO [OVERQUOTA] (RFC 9208), StoreTemporaryError to NO [UNAVAILABLE]; SMTP maps
QuotaExceeded to 552 5.2.2 (RFC 3463) and StoreTemporaryError to 451 4.3.0.
"""

from __future__ import annotations

from typing import Literal

from mailkeep.errors import MailkeepError

QuotaResource = Literal["storage", "messages"]


class StoreError(MailkeepError):
    """Base of every error the store raises on purpose."""


class MailboxNotFound(StoreError):
    """No such mailbox for this user."""


class MailboxExists(StoreError):
    """The mailbox name is already taken."""


class InvalidMailboxName(StoreError):
    """The name breaks the store's naming rules (the message says which)."""


class MailboxNotAllowed(StoreError):
    """The operation is not allowed on this mailbox (the message says why)."""


class InvalidKeyword(StoreError):
    """A keyword that is not an IMAP atom (RFC 9051 9, flag-keyword)."""


class MessageNotFound(StoreError):
    """No message with that UID in the mailbox."""


class QuotaExceeded(StoreError):
    """Storing would go over the user's quota.

    ``resource`` is "storage" (bytes, RFC 9208 STORAGE counts in KiB, the store in bytes) or
    "messages"; ``limit`` and ``used`` are in that resource's unit, ``used`` before the change.
    """

    def __init__(self, resource: QuotaResource, limit: int, used: int) -> None:
        unit = "bytes" if resource == "storage" else "messages"
        super().__init__(f"quota exceeded: {resource} limit={limit} {unit} used={used} {unit}")
        self.resource: QuotaResource = resource
        self.limit = limit
        self.used = used


class StoreTemporaryError(StoreError):
    """A temporary failure (disk full, permissions, I/O); nothing was half-stored."""


class MetadataTooLarge(StoreError):
    """An annotation value is longer than ``limit`` octets (IMAP [METADATA MAXSIZE n])."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"annotation value larger than {limit} octets")
        self.limit = limit


class MetadataTooMany(StoreError):
    """The mailbox (or the server) has as many annotations as allowed ([METADATA TOOMANY])."""


class MetadataLimitReached(StoreError):
    """All of the user's annotations together would exceed their total size limit."""
