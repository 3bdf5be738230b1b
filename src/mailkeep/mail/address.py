"""Mailbox addresses: RFC 5321 4.1.2 (syntax), 4.5.3.1 (sizes), RFC 6531 (UTF-8 local parts),
RFC 5890 (IDNA: domains stored as A-labels).

Implementation notes (the invariants the rest of mailkeep relies on):

- ``parse_address`` and ``parse_path`` are total: for ANY input they return a value or raise
  ``AddressError`` (a ValueError) carrying a short ``reason``; never another exception.
- ``Address.local`` is the local part's value (quotes and backslashes removed); ``.text`` is
  the canonical form for storage and the wire, quoted only when the value is not a
  Dot-string. ``Address.domain`` is lower-case A-labels, or a normalised address literal
  (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``) with ``is_literal`` set.
- Comparison: domains are case-insensitive (RFC 5321 2.4). RFC 5321 2.4 lets a server treat
  local parts as case-sensitive; mailkeep does not, because people do not: ``Bob@x`` and
  ``bob@X`` are the same mailbox. ``Address.key`` (NFC, case-folded local part @ domain) is
  what equality, hashing and every lookup use.
- Refused on purpose: source routes (``@a,@b:user@d``; RFC 5321 Appendix C allows a server
  to decline them), empty local parts, control characters anywhere (NUL, CR, LF, DEL, C1),
  general address literals other than IPv6, IPv6 zone ids. ``%`` and ``!`` are ordinary
  local-part characters, never routing.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field

import idna

from mailkeep.mail.hostname import to_ulabel

# RFC 5321 4.5.3.1.1, 4.5.3.1.2, 4.5.3.1.3 (a path's 256 octets include the angle brackets).
MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 255
MAX_PATH_OCTETS = 256
MAX_MAILBOX_OCTETS = MAX_PATH_OCTETS - 2

# RFC 5322 3.2.3 atext, as RFC 5321 4.1.2 uses it for Atom.
_ATEXT_ASCII = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
_ATEXT_CLASS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL_CLASS = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# The common case (ASCII Dot-string @ ASCII domain) in one regex; everything else takes the
# slow path, which gives the precise reason for a refusal.
_FAST = re.compile(
    rf"({_ATEXT_CLASS}+(?:\.{_ATEXT_CLASS}+)*)@({_LABEL_CLASS}(?:\.{_LABEL_CLASS})*)", re.ASCII
)
_DOMAIN_ASCII = re.compile(rf"{_LABEL_CLASS}(?:\.{_LABEL_CLASS})*", re.ASCII)
_MAX_SHOWN = 80  # characters of a bad address quoted in an error message


class AddressError(ValueError):
    """Not a valid mailbox address. ``reason`` is short and safe to send to a peer."""

    def __init__(self, text: str | bytes, reason: str) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        shown = text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."
        super().__init__(f"invalid address {shown!r}: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class Address:
    """A mailbox ``local@domain``. Build with ``parse_address``; compare with ``==`` (by key)."""

    local: str  # the local part's value, unquoted
    domain: str  # lower-case A-labels, or a normalised address literal
    is_literal: bool = False  # domain is an address literal such as [192.0.2.1]
    key: str = field(init=False, repr=False)  # what equality and lookups use

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{quote_local(fold_local(self.local))}@{self.domain}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Address):
            return self.key == other.key
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """Canonical form for storage and the wire: quoted only when needed, A-labels."""
        return f"{quote_local(self.local)}@{self.domain}"

    def display(self) -> str:
        """For people: the domain in U-labels (``bob@bücher.example``)."""
        domain = self.domain if self.is_literal else to_ulabel(self.domain)
        return f"{quote_local(self.local)}@{domain}"

    def with_local(self, local: str) -> Address:
        """The same domain with another local part (which must be non-empty)."""
        return Address(local, self.domain, self.is_literal)


def fold_local(local: str) -> str:
    """The comparison form of a local part: case-folded, NFC (see the module notes)."""
    if local.isascii():
        return local.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", local).casefold())


def is_dot_string(local: str) -> bool:
    """True when ``local`` can be written without quotes (RFC 5321 4.1.2 Dot-string)."""
    for atom in local.split("."):
        if not atom:
            return False
        for ch in atom:
            if ch not in _ATEXT_ASCII and ch.isascii():
                return False
    return True


def quote_local(local: str) -> str:
    """A local part's value as written in an address: bare if a Dot-string, else quoted."""
    if is_dot_string(local):
        return local
    escaped = local.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def split_subaddress(address: Address, separator: str) -> tuple[Address, str] | None:
    """``user+tag@d`` → (``user@d``, ``"tag"``); None when there is no subaddress.

    The local part is split at the first separator; a local part that starts with it is not
    a subaddress. An empty separator turns subaddressing off.
    """
    if not separator:
        return None
    base, sep, tag = address.local.partition(separator)
    if not sep or not base:
        return None
    return address.with_local(base), tag


def parse_path(text: str | bytes, *, utf8: bool = True) -> Address | None:
    """Parse an RFC 5321 4.1.2 Path ``<mailbox>``; ``<>`` (the null path) gives None.

    ``utf8=False`` refuses non-ASCII addresses (no SMTPUTF8, RFC 6531 3.4). Source routes
    are refused. The caller decides where the null path is allowed (RFC 5321 4.1.1.2).
    """
    if isinstance(text, bytes):
        text = _decode(text)
    if not (text.startswith("<") and text.endswith(">")) or len(text) < 2:
        raise AddressError(text, "expected <local@domain>")
    if len(text) > MAX_PATH_OCTETS or _octets(text) > MAX_PATH_OCTETS:
        raise AddressError(text, f"longer than {MAX_PATH_OCTETS} octets")
    inner = text[1:-1]
    if not inner:
        return None
    return parse_address(inner, utf8=utf8)


def parse_address(text: str | bytes, *, utf8: bool = True) -> Address:
    """Parse and normalise a mailbox ``local@domain`` (RFC 5321 4.1.2 Mailbox).

    ``utf8=False`` refuses non-ASCII addresses (no SMTPUTF8, RFC 6531 3.4).
    """
    if isinstance(text, bytes):
        text = _decode(text)
    match = _FAST.fullmatch(text)
    if match is not None and len(text) <= MAX_MAILBOX_OCTETS:
        local, domain = match.groups()
        if len(local) <= MAX_LOCAL_OCTETS and len(domain) <= 253 and "xn--" not in domain.lower():
            return Address(local, domain.lower())
    return _parse_slow(text, utf8)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AddressError(data, "not valid UTF-8") from None


def _octets(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _parse_slow(text: str, utf8: bool) -> Address:
    if not text:
        raise AddressError(text, "empty address")
    for ch in text:
        if _is_control(ch):
            raise AddressError(text, f"control character U+{ord(ch):04X}")
        if "\ud800" <= ch <= "\udfff":
            raise AddressError(text, "unpaired surrogate")
    if not utf8 and not text.isascii():
        raise AddressError(text, "non-ASCII address without SMTPUTF8")
    if _octets(text) > MAX_MAILBOX_OCTETS:
        raise AddressError(text, f"longer than {MAX_MAILBOX_OCTETS} octets")
    if text.startswith("@"):
        raise AddressError(text, "source routes are not accepted")
    local_text, at, domain_text = text.rpartition("@")
    if not at:
        raise AddressError(text, "no @ and domain")
    if not local_text:
        raise AddressError(text, "empty local part")
    if not domain_text:
        raise AddressError(text, "empty domain")
    if _octets(local_text) > MAX_LOCAL_OCTETS:
        raise AddressError(text, f"local part longer than {MAX_LOCAL_OCTETS} octets")
    if _octets(domain_text) > MAX_DOMAIN_OCTETS:
        raise AddressError(text, f"domain longer than {MAX_DOMAIN_OCTETS} octets")
    local = _parse_local(text, local_text)
    if domain_text.startswith("["):
        return Address(local, _parse_literal(text, domain_text), is_literal=True)
    address = Address(local, _parse_domain(text, domain_text))
    # A-labels are longer than U-labels: the canonical form must fit too, so that it can be
    # relayed to servers without SMTPUTF8 and always parses again.
    if _octets(address.text) > MAX_MAILBOX_OCTETS:
        raise AddressError(text, f"longer than {MAX_MAILBOX_OCTETS} octets with A-labels")
    return address


def _is_control(ch: str) -> bool:
    return ch < " " or "\x7f" <= ch <= "\x9f"


def _parse_local(text: str, local: str) -> str:
    """The value of a Dot-string or Quoted-string local part (RFC 5321 4.1.2, RFC 6531 3.3)."""
    if local.startswith('"'):
        return _unquote(text, local)
    for atom in local.split("."):
        if not atom:
            raise AddressError(text, "empty atom in local part (leading, trailing or double dot)")
        for ch in atom:
            if ch.isascii() and ch not in _ATEXT_ASCII:
                raise AddressError(text, f"character {ch!r} not allowed unquoted in local part")
    return local


def _unquote(text: str, local: str) -> str:
    """RFC 5321 4.1.2 Quoted-string: qtextSMTP and quoted-pairSMTP (%d92 %d32-126)."""
    out: list[str] = []
    i, end = 1, len(local)
    while i < end:
        ch = local[i]
        if ch == '"':
            if i != end - 1:
                raise AddressError(text, "text after the closing quote of the local part")
            if not out:
                raise AddressError(text, "empty local part")
            return "".join(out)
        if ch == "\\":
            if i + 1 >= end or not " " <= local[i + 1] <= "~":
                raise AddressError(text, "bad backslash escape in quoted local part")
            out.append(local[i + 1])
            i += 2
            continue
        out.append(ch)  # controls were refused before; '"' and '\\' are handled above
        i += 1
    raise AddressError(text, "unterminated quoted local part")


def _parse_domain(text: str, domain: str) -> str:
    """RFC 5321 4.1.2 Domain (RFC 6531 3.3: or U-labels), returned as lower-case A-labels."""
    if not domain.isascii() or "xn--" in domain.lower():
        labels = []
        for label in domain.split("."):
            if label.isascii() and not label[:4].lower() == "xn--":
                labels.append(label)
                continue
            encoded = _idna_label(label)
            if encoded is None:
                reason = "invalid A-label in domain" if label.isascii() else None
                raise AddressError(text, reason or "invalid internationalised domain")
            labels.append(encoded)
        domain = ".".join(labels)
    if not _DOMAIN_ASCII.fullmatch(domain):
        raise AddressError(text, "invalid domain")
    lowered = domain.lower()
    if len(lowered) > 253:  # RFC 1035 2.3.4, in text form without the root dot
        raise AddressError(text, "domain longer than 253 characters")
    return lowered


@functools.lru_cache(maxsize=4096)  # IDNA is slow, and mail comes from few domains
def _idna_label(label: str) -> str | None:
    """One label as a lower-case A-label, or None if it is not a valid IDNA label.

    A U-label is mapped (UTS 46: case, width) and encoded; an ``xn--`` label must decode
    and encode back to itself (RFC 5890 2.3.2.1).
    """
    try:
        if label.isascii():
            lowered = label.lower()
            if idna.encode(idna.decode(lowered), uts46=True).decode("ascii") != lowered:
                return None
            return lowered
        return idna.encode(label, uts46=True).decode("ascii").lower()
    except (ValueError, IndexError):  # idna's errors are UnicodeErrors, i.e. ValueErrors
        return None


def _parse_literal(text: str, domain: str) -> str:
    """RFC 5321 4.1.3 address literals: IPv4 and IPv6; other tags are refused."""
    if not domain.endswith("]"):
        raise AddressError(text, "unterminated address literal")
    inner = domain[1:-1]
    if inner[:5].lower() == "ipv6:":
        value = inner[5:]
        if "%" in value:
            raise AddressError(text, "IPv6 zone ids are not allowed")
        try:
            return f"[IPv6:{ipaddress.IPv6Address(value).compressed}]"
        except ValueError:
            raise AddressError(text, "invalid IPv6 address literal") from None
    if ":" in inner:
        raise AddressError(text, "unsupported address literal tag")
    try:
        return f"[{ipaddress.IPv4Address(inner)}]"
    except ValueError:
        raise AddressError(text, "invalid IPv4 address literal") from None
