"""The value types of the account directory: domains, users, aliases, and resolutions."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailkeep.mail.address import Address
from mailkeep.mail.hostname import to_ulabel


@dataclass(frozen=True, slots=True)
class Domain:
    """A local domain: mail for it is ours."""

    name: str  # lower-case A-labels, as stored
    catchall: Address | None  # where mail for unknown addresses goes; None = refused
    created: int  # Unix time

    @property
    def display(self) -> str:
        """The name in U-labels, for people."""
        return to_ulabel(self.name)


@dataclass(frozen=True, slots=True)
class User:
    """A mailbox owner. ``id`` is stable and never reused: the mail store keys on it."""

    id: int
    address: Address
    quota_bytes: int  # 0 = unlimited
    quota_messages: int  # 0 = unlimited
    disabled: bool  # a disabled user can neither log in nor receive
    created: int  # Unix time
    admin_of: tuple[str, ...] = ()  # A-label domains whose every address the user may send as


@dataclass(frozen=True, slots=True)
class Alias:
    """One address that forwards to one or more others, local or remote."""

    source: Address
    targets: tuple[Address, ...]


class Outcome(enum.Enum):
    """What an envelope recipient comes to (the names say what an SMTP server should answer)."""

    DELIVER = "deliver"  # at least one local user or remote address
    NOT_LOCAL_DOMAIN = "not local domain"  # relaying question, not ours to resolve
    NO_SUCH_USER = "no such user"  # RFC 3463 5.1.1
    DISABLED = "mailbox disabled"  # RFC 3463 5.2.1: only disabled users were reached
    LOOP = "routing loop"  # RFC 3463 5.4.6: aliases loop or nest deeper than allowed


@dataclass(frozen=True, slots=True)
class LocalRecipient:
    """A local user an address reaches."""

    user_id: int
    address: Address  # the user's own address


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where mail for ``original`` goes. Recipients are unique and in expansion order."""

    original: Address  # as the envelope gave it: for Delivered-To and subaddress folders
    outcome: Outcome
    local: tuple[LocalRecipient, ...] = ()
    remote: tuple[Address, ...] = ()
    detail: str | None = None  # the subaddress tag when the match needed it stripped

    @property
    def deliverable(self) -> bool:
        return self.outcome is Outcome.DELIVER
