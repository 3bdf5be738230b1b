"""What the IMAP core hands the application (the asyncio adapter and command handlers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailkeep.protocol.imap.commands import TaggedCommand
from mailkeep.protocol.imap.errors import ParseError


@dataclass(frozen=True, slots=True)
class Write:
    """Bytes the core sends on its own (``+`` for a synchronizing literal), in order."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A complete, well-formed command allowed in the current state. Answer it with
    untagged data as needed and finally ``send`` its tagged response; the core reads no
    further command until then."""

    command: TaggedCommand


@dataclass(frozen=True, slots=True)
class CommandInvalid:
    """A malformed command, one not allowed now, or a refused literal: ``send(error.reply)``
    (tagged BAD or NO, or untagged BAD when no tag could be read). Count these to close
    sessions that send nothing else."""

    error: ParseError


@dataclass(frozen=True, slots=True)
class SaslResponse:
    """The client's line after a continuation request during AUTHENTICATE, base64-decoded
    (RFC 9051 6.2.2). Secret: never log ``data``. Answer with another ``Continuation`` or
    the tagged response. A "*" or non-base64 line arrives as CommandInvalid instead."""

    tag: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class IdleDone:
    """The client ended IDLE with DONE (RFC 2177 3): send the tagged OK."""

    tag: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The session is over (LOGOUT done, end of input, or a literal that cannot be
    skipped): close after writing what was sent."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()

Event = Write | CommandReceived | CommandInvalid | SaslResponse | IdleDone | ConnectionClosed
