"""The typed values IMAP data is built from (RFC 9051 4), for the encoder.

``str`` is a string (quoted or literal, chosen by the encoder), ``bytes`` a string of octets
(quoted when short and plain, else a literal), ``int`` a number, ``None`` NIL, a list or
tuple a parenthesised list. The classes here say what plain Python types cannot: an atom,
a forced literal, a literal streamed by the caller, a list printed without separators.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass

from mailkeep.errors import LocalProtocolError

# ATOM-CHAR (RFC 9051 9), plus the "\" of flags and system names ("\Seen", "\HasChildren")
# and "[", "]", "<", ">", "." in FETCH item names; never SP, CTL, "(", ")", "{", '"' or "%".
_ATOM_TEXT = re.compile(r"\\?[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+|\\\*", re.ASCII)


@dataclass(frozen=True, slots=True)
class Atom:
    """An atom sent as is: keywords (``EXISTS``), flags (``\\Seen``), sequence sets."""

    text: str

    def __post_init__(self) -> None:
        if not _ATOM_TEXT.fullmatch(self.text):
            raise LocalProtocolError(f"not an atom: {self.text!r}")


@dataclass(frozen=True, slots=True)
class Literal:
    """Octets always sent as a literal; ``binary`` makes it literal8 ``~{n}`` (RFC 3516)."""

    data: bytes
    binary: bool = False


@dataclass(frozen=True, slots=True)
class Stream:
    """A literal whose ``size`` octets the caller streams from ``source`` (a message file,
    a body part) after the encoder's ``{size}`` header, so big bodies are never copied
    whole into memory. ``source`` is the caller's own handle; the encoder only passes it."""

    size: int
    source: Hashable
    binary: bool = False


@dataclass(frozen=True, slots=True)
class Joined:
    """Values written one after another without spaces: THREAD's ``(1)(2 3)``."""

    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A mailbox name, encoded for the session: modified UTF-7 in IMAP4rev1, UTF-8 once
    IMAP4rev2 or UTF8=ACCEPT is enabled (RFC 9051 5.1, RFC 6855 3)."""

    name: str


@dataclass(frozen=True, slots=True)
class Raw:
    """Already-encoded bytes built by the core itself (a FETCH item name with its section
    spec). Never wrap client- or message-supplied text in Raw."""

    data: bytes


Value = (
    None
    | int
    | str
    | bytes
    | Atom
    | Literal
    | Stream
    | Joined
    | Mailbox
    | Raw
    | list["Value"]
    | tuple["Value", ...]
)
