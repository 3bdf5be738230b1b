"""IMAP ENVELOPE (RFC 3501 7.4.2, RFC 9051 7.5.2) and address lists on raw bytes (RFC 5322
3.4, 4.4 obsolete routes and groups).

Values stay raw bytes, as IMAP sends them: encoded-words are not decoded, quotes around a
display name are removed, folding is undone. An address is IMAP's (name, adl, mailbox, host);
a group is bracketed by (NIL NIL "name" NIL) and (NIL NIL NIL NIL). The address parser is a
small lenient tokenizer: it never raises and degrades junk to fewer or odder addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailkeep.mail.headers import HeaderMap

# Tokens of an address list (RFC 5322 3.2): quoted strings, comments (nested, one level
# deep is plenty for the tokenizer: deeper nesting just ends early), domain literals, the
# specials that matter here, and atoms (with "." inside: obs-phrase "John Q. Public").
_TOKENS = re.compile(
    rb'(?P<q>"(?:[^"\\]|\\.)*"?)'
    rb"|(?P<c>\((?:[^()\\]|\\.|\((?:[^()\\]|\\.)*\))*\)?)"
    rb"|(?P<d>\[(?:[^\]\\]|\\.)*\]?)"
    rb"|(?P<s>[,:;<>@])"
    rb"|(?P<w>[ \t\r\n]+)"
    rb"|(?P<a>[^\"()\[\],:;<>@ \t\r\n]+)",
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class EnvelopeAddress:
    """IMAP address structure; a group start has only ``mailbox``, a group end nothing."""

    name: bytes | None
    adl: bytes | None
    mailbox: bytes | None
    host: bytes | None

    @property
    def is_group_start(self) -> bool:
        return self.host is None and self.mailbox is not None

    @property
    def is_group_end(self) -> bool:
        return self.host is None and self.mailbox is None

    @property
    def addr_spec(self) -> str:
        """``mailbox@host`` as text (UTF-8 or Latin-1), for sorting and search."""
        local = _text(self.mailbox or b"")
        return f"{local}@{_text(self.host)}" if self.host else local


@dataclass(frozen=True, slots=True)
class Envelope:
    """The ten ENVELOPE fields; None is NIL. Address lists are None when absent or empty."""

    date: bytes | None
    subject: bytes | None
    from_: tuple[EnvelopeAddress, ...] | None
    sender: tuple[EnvelopeAddress, ...] | None
    reply_to: tuple[EnvelopeAddress, ...] | None
    to: tuple[EnvelopeAddress, ...] | None
    cc: tuple[EnvelopeAddress, ...] | None
    bcc: tuple[EnvelopeAddress, ...] | None
    in_reply_to: bytes | None
    message_id: bytes | None


def _text(value: bytes | None) -> str:
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _tokens(data: bytes) -> Iterator[tuple[str, bytes]]:
    pos = 0
    length = len(data)
    while pos < length:
        match = _TOKENS.match(data, pos)
        if match is None:  # a lone ")" or "]"; skip it
            pos += 1
            continue
        kind = match.lastgroup
        assert kind is not None
        pos = match.end()
        if kind != "w":
            yield kind, match.group(0)


def _unquote(token: bytes) -> bytes:
    inner = token[1:-1] if len(token) >= 2 and token.endswith(b'"') else token[1:]
    return _QUOTED_PAIR.sub(rb"\1", inner)


def _phrase(words: list[tuple[str, bytes]]) -> bytes | None:
    parts = [_unquote(v) if k == "q" else v for k, v in words if k != "c"]
    if not parts:
        # "foo@bar (Foo Bar)": the old convention puts the name in a comment.
        comments = [v[1:-1] for k, v in words if k == "c"]
        return comments[-1].strip() or None if comments else None
    return b" ".join(parts)


def _addr_spec(tokens: list[tuple[str, bytes]]) -> tuple[bytes | None, bytes | None]:
    """(mailbox, host) from the tokens of local-part "@" domain; comments dropped."""
    text = [(k, v) for k, v in tokens if k != "c"]
    at = max((i for i, (k, v) in enumerate(text) if v == b"@"), default=-1)
    local = b"".join(v for _, v in (text if at < 0 else text[:at]))
    host = b"".join(v for _, v in text[at + 1 :]) if at >= 0 else b""
    return local, host


def _mailbox(
    words: list[tuple[str, bytes]], angle: list[tuple[str, bytes]] | None
) -> EnvelopeAddress | None:
    if angle is None:
        plain = [(k, v) for k, v in words if k != "c"]
        if not plain:
            return None
        local, host = _addr_spec(words)
        name = _phrase([(k, v) for k, v in words if k == "c"])
        return EnvelopeAddress(name, None, local, host)
    adl: bytes | None = None
    colon = max((i for i, (k, v) in enumerate(angle) if v == b":"), default=-1)
    if colon >= 0:
        # RFC 5322 4.4 obs-route: "@a,@b:" before the addr-spec; IMAP's adl keeps it.
        adl = b"".join(v for k, v in angle[:colon] if k != "c") or None
        angle = angle[colon + 1 :]
    local, host = _addr_spec(angle)
    if not local and not host and adl is None:
        # "<>" (a null return path) or an empty angle: keep only a name, if any.
        name = _phrase(words)
        return EnvelopeAddress(name, None, b"", b"") if name else None
    return EnvelopeAddress(_phrase(words), adl, local, host)


def parse_address_list(data: bytes) -> tuple[EnvelopeAddress, ...]:
    """The addresses of an address-list field value, with group start and end markers."""
    result: list[EnvelopeAddress] = []
    words: list[tuple[str, bytes]] = []
    angle: list[tuple[str, bytes]] | None = None
    in_angle = False
    in_group = False

    def finish() -> None:
        nonlocal words, angle
        address = _mailbox(words, angle)
        if address is not None:
            result.append(address)
        words, angle = [], None

    for kind, value in _tokens(data):
        if in_angle:
            if value == b">":
                in_angle = False
            else:
                assert angle is not None
                angle.append((kind, value))
            continue
        if value == b"<":
            in_angle = True
            angle = []
        elif value == b"," and kind == "s":
            finish()
        elif value == b":" and kind == "s" and not in_group and angle is None:
            result.append(EnvelopeAddress(None, None, _phrase(words) or b"", None))
            words = []
            in_group = True
        elif value == b";" and kind == "s" and in_group:
            finish()
            result.append(EnvelopeAddress(None, None, None, None))
            in_group = False
        elif kind == "s" and value in (b";", b">"):
            pass  # a stray group end or angle close outside its context: junk
        elif angle is None:
            words.append((kind, value))
        # tokens after a closing ">" (e.g. a trailing comment) are dropped
    finish()
    if in_group:
        result.append(EnvelopeAddress(None, None, None, None))
    return tuple(result)


def _addresses(header: HeaderMap, name: bytes) -> tuple[EnvelopeAddress, ...] | None:
    value = header.get(name)
    if value is None:
        return None
    return parse_address_list(value) or None


def _nstring(header: HeaderMap, name: bytes) -> bytes | None:
    return header.get(name)


def build_envelope(header: HeaderMap) -> Envelope:
    """The ENVELOPE of a message whose header block is ``header`` (RFC 3501 7.4.2)."""
    from_ = _addresses(header, b"from")
    # RFC 3501 7.4.2: "If the Sender or Reply-To lines are absent in the [RFC-2822] header,
    # or are present but empty, the server sets the corresponding member of the envelope to
    # be the same value as the from member".
    sender = _addresses(header, b"sender") or from_
    reply_to = _addresses(header, b"reply-to") or from_
    return Envelope(
        date=_nstring(header, b"date"),
        subject=_nstring(header, b"subject"),
        from_=from_,
        sender=sender,
        reply_to=reply_to,
        to=_addresses(header, b"to"),
        cc=_addresses(header, b"cc"),
        bcc=_addresses(header, b"bcc"),
        in_reply_to=_nstring(header, b"in-reply-to"),
        message_id=_nstring(header, b"message-id"),
    )
