"""What the SMTP server core reports to the application.

Three kinds:

- ``ReplyNeeded`` events: the application answers each with exactly one
  ``SMTPServerConnection.send(reply)`` before asking for the next event. Those with a
  ``reply`` field carry the answer the core proposes; the application may send another
  (a rate limit, a lockout). Decision events without one (Greeting, MailFrom, RcptTo,
  MessageComplete) must be answered from policy, e.g. ``replies.MAIL_OK``.
- ``AuthCheck``: answered with ``answer_auth_check``.
- informational events (MessageChunk, PlaintextDiscarded, ConnectionClosed): no answer.

Addresses are ``mail.address.Address`` values (source routes dropped); the null reverse-path
is None, and a bare RCPT TO:<Postmaster> is postmaster at the server's hostname.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailkeep.mail.address import Address
from mailkeep.protocol.sasl.exchange import PasswordCheck, ScramLookup
from mailkeep.protocol.smtp.grammar import Body, Notify, Ret
from mailkeep.protocol.smtp.replies import Reply


class NeedData(enum.Enum):
    NEED_DATA = "need data"


NEED_DATA = NeedData.NEED_DATA


class ReplyNeeded:
    """Marker base: an event the application answers with ``send(reply)``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Greeting(ReplyNeeded):
    """Send the banner (``replies.greeting(hostname)``) or refuse with 554 / 421.

    ``early_talker``: the client sent bytes before the banner (RFC 5321 4.3.1 forbids it).
    """

    early_talker: bool


@dataclass(frozen=True, slots=True)
class Ehlo(ReplyNeeded):
    """EHLO (``esmtp``) or HELO; ``reply`` lists the extensions this session offers."""

    name: str
    esmtp: bool
    reply: Reply


@dataclass(frozen=True, slots=True)
class StartTLSRequested(ReplyNeeded):
    """Send ``reply`` (220), run the TLS handshake, then call ``tls_started()``."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class PlaintextDiscarded:
    """Bytes after STARTTLS were dropped unread (STARTTLS injection, RFC 3207 5; log it)."""

    size: int


@dataclass(frozen=True, slots=True)
class AuthChallenge(ReplyNeeded):
    """Send the 334 challenge; the client's answer comes back as part of the exchange."""

    mechanism: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class AuthCheck:
    """Verify credentials, then call ``answer_auth_check``: a bool for a PasswordCheck,
    ScramCredentials or None (unknown user) for a ScramLookup."""

    mechanism: str
    request: PasswordCheck | ScramLookup


@dataclass(frozen=True, slots=True)
class AuthCompleted(ReplyNeeded):
    """Credentials verified: ``reply`` is 235; sending a 4xx/5xx instead refuses the login."""

    mechanism: str
    authzid: str
    authcid: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class AuthFailed(ReplyNeeded):
    """The exchange failed; ``reason`` is for the log (never sent)."""

    mechanism: str
    authcid: str
    reason: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class MailFrom(ReplyNeeded):
    """MAIL FROM, syntax and session rules already checked (RFC 5321 4.1.1.2)."""

    address: Address | None
    size: int | None
    body: Body
    smtputf8: bool
    ret: Ret | None
    envid: str | None
    requiretls: bool
    auth: str | None


@dataclass(frozen=True, slots=True)
class RcptTo(ReplyNeeded):
    """RCPT TO (RFC 5321 4.1.1.3) with its DSN parameters (RFC 3461 4.1, 4.2)."""

    address: Address
    notify: frozenset[Notify]
    orcpt: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class DataStarted(ReplyNeeded):
    """DATA with at least one accepted recipient; ``reply`` is 354."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class MessageChunk:
    """Message bytes in order (dot-unstuffed for DATA, as sent for BDAT); spool them."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BdatChunkComplete(ReplyNeeded):
    """A BDAT chunk that is not the last was read whole (RFC 3030 2)."""

    size: int
    reply: Reply


@dataclass(frozen=True, slots=True)
class MessageComplete(ReplyNeeded):
    """End of DATA or BDAT LAST: answer 250 only once the message is durable.

    ``size`` counts message octets; ``long_lines`` says a line exceeded RFC 5322's 998
    octets (accepted, noted for relaying).
    """

    size: int
    long_lines: bool
    chunked: bool


@dataclass(frozen=True, slots=True)
class MessageRejected(ReplyNeeded):
    """The core refused the message (size, bare CR/LF, NUL, line limit): drop the spooled
    bytes and send ``reply``; ``reason`` is for the log."""

    reason: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class Reset(ReplyNeeded):
    reply: Reply


@dataclass(frozen=True, slots=True)
class Noop(ReplyNeeded):
    reply: Reply


@dataclass(frozen=True, slots=True)
class Vrfy(ReplyNeeded):
    """VRFY (RFC 5321 3.5.3): ``reply`` is 252, which reveals nothing."""

    argument: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class Help(ReplyNeeded):
    reply: Reply


@dataclass(frozen=True, slots=True)
class Quit(ReplyNeeded):
    """QUIT: send ``reply`` (221), then close."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class ProtocolError(ReplyNeeded):
    """The core refuses what the client sent; send ``reply``. A 421 closes the session."""

    reply: Reply
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client closed its side, or the session ended; no more events."""


Event = (
    Greeting
    | Ehlo
    | StartTLSRequested
    | PlaintextDiscarded
    | AuthChallenge
    | AuthCheck
    | AuthCompleted
    | AuthFailed
    | MailFrom
    | RcptTo
    | DataStarted
    | MessageChunk
    | BdatChunkComplete
    | MessageComplete
    | MessageRejected
    | Reset
    | Noop
    | Vrfy
    | Help
    | Quit
    | ProtocolError
    | ConnectionClosed
)
