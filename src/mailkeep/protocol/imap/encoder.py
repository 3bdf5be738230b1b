"""IMAP responses to bytes, always in valid syntax (RFC 9051 4 and 7, RFC 3501 9).

Implementation notes (invariants):

- Strings choose their own form: a quoted string when every octet may appear in one (no
  CR, LF or NUL; 8-bit only when the session has UTF-8 enabled, RFC 9051 4.3 / RFC 6855 3)
  and it is short, a literal otherwise. NIL is only ever written for ``None``: the string
  "NIL" is quoted.
- Human-readable text (resp-text) is cleaned, never trusted: CR, LF and other controls
  become spaces, 8-bit characters become "?" unless UTF-8 is on, and it is never empty.
- A ``Stream`` value becomes the literal header ``{n}\\r\\n`` followed by the ``Stream``
  itself in ``encode_chunks``' output; the caller writes exactly ``n`` octets from its
  source there. ``encode`` refuses streams.
"""

from __future__ import annotations

import base64
import re

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.imap import mutf7
from mailkeep.protocol.imap.responses import Code, Continuation, Data, Response, StatusResponse
from mailkeep.protocol.imap.values import Atom, Joined, Literal, Mailbox, Raw, Stream, Value

CRLF = b"\r\n"
# Longer strings go as literals: quoted strings that long are hard to read and some
# clients cap them.
MAX_QUOTED = 1024
_QUOTED_SAFE_ASCII = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*")
# ASCII that needs no escaping inside quotes (the common case, checked first)
_QUOTED_PLAIN = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x21\x23-\x5b\x5d-\x7f]*")
_ASTRING_ATOM = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
_TEXT_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")

Chunk = bytes | Stream


def literal_header(size: int, binary: bool = False) -> bytes:
    """``{size}\\r\\n`` (``~{size}\\r\\n`` for literal8): what precedes a streamed literal."""
    return b"%s{%d}\r\n" % (b"~" if binary else b"", size)


def _quotable(data: bytes, utf8: bool) -> bool:
    if len(data) > MAX_QUOTED:
        return False
    if _QUOTED_SAFE_ASCII.fullmatch(data):
        return True
    if not utf8 or b"\0" in data or b"\r" in data or b"\n" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def encode_string(value: str | bytes, utf8: bool = False) -> bytes:
    """A string as a quoted string or, when it cannot be one, a literal."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if _quotable(data, utf8):
        if b"\\" in data or b'"' in data:
            data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        return b'"' + data + b'"'
    return literal_header(len(data)) + data


def encode_astring(value: str, utf8: bool = False) -> bytes:
    """An astring: bare when it is a valid atom-like astring (and not "NIL"), else a string."""
    data = value.encode("utf-8")
    if _ASTRING_ATOM.fullmatch(data) and data.upper() != b"NIL":
        return data
    return encode_string(data, utf8)


def encode_mailbox(name: str, utf8: bool = False) -> bytes:
    """A mailbox name: modified UTF-7 unless UTF-8 is enabled (RFC 9051 5.1, RFC 6855 3)."""
    if utf8:
        return encode_string(name, True)
    return encode_string(mutf7.encode(name), False)


def clean_text(text: str, utf8: bool) -> bytes:
    """resp-text (RFC 9051 9): one line of TEXT-CHAR, never empty, never starting "["."""
    text = _TEXT_UNSAFE.sub(" ", text).strip().lstrip("[")
    if not text:
        text = "done"
    if utf8:
        return text.encode("utf-8", "replace")
    return text.encode("ascii", "replace")


class _Writer:
    """Accumulates output in one bytearray; a Stream closes the current chunk."""

    __slots__ = ("buf", "chunks", "utf8")

    def __init__(self, utf8: bool) -> None:
        self.buf = bytearray()
        self.chunks: list[Chunk] = []
        self.utf8 = utf8

    def stream(self, value: Stream) -> None:
        self.buf += literal_header(value.size, value.binary)
        self.chunks.append(bytes(self.buf))
        self.buf.clear()
        self.chunks.append(value)

    def finish(self) -> list[Chunk]:
        if self.buf or not self.chunks:
            self.chunks.append(bytes(self.buf))
        return self.chunks

    def value(self, value: Value) -> None:
        buf = self.buf
        kind = type(value)
        if kind is list or kind is tuple:
            buf += b"("
            first = True
            for item in value:  # type: ignore[union-attr]
                if not first:
                    buf += b" "
                first = False
                self.value(item)
            buf += b")"
        elif kind is bytes:
            data: bytes = value  # type: ignore[assignment]
            if len(data) <= MAX_QUOTED and _QUOTED_PLAIN.fullmatch(data):
                buf += b'"'
                buf += data
                buf += b'"'
            else:
                buf += encode_string(data, self.utf8)
        elif value is None:
            buf += b"NIL"
        elif kind is Atom:
            buf += value.text.encode("ascii")  # type: ignore[union-attr]
        elif kind is int:
            number: int = value  # type: ignore[assignment]
            if number < 0:
                raise LocalProtocolError(f"negative number {number}")
            buf += b"%d" % number
        elif kind is str:
            buf += encode_string(value, self.utf8)  # type: ignore[arg-type]
        else:
            self._other(value)

    def _other(self, value: Value) -> None:
        buf = self.buf
        if isinstance(value, bool):
            raise LocalProtocolError("a bool is not an IMAP value")
        if isinstance(value, int):  # an int subclass (IntEnum...)
            self.value(int(value))
        elif isinstance(value, list | tuple):
            self.value(list(value))
        elif isinstance(value, Mailbox):
            buf += encode_mailbox(value.name, self.utf8)
        elif isinstance(value, Literal):
            buf += literal_header(len(value.data), value.binary)
            buf += value.data
        elif isinstance(value, Stream):
            self.stream(value)
        elif isinstance(value, Raw):
            buf += value.data
        elif isinstance(value, Joined):
            for item in value.items:
                self.value(item)
        elif isinstance(value, bytes | str):
            self.buf += encode_string(value, self.utf8)
        else:
            raise LocalProtocolError(f"cannot encode {type(value).__name__}")

    def code(self, code: Code) -> None:
        if not _ASTRING_ATOM.fullmatch(code.name.encode("ascii", "replace")) or "]" in code.name:
            raise LocalProtocolError(f"bad response code name {code.name!r}")
        self.buf += b"[" + code.name.encode("ascii")
        for arg in code.args:
            self.buf += b" "
            self.value(arg)
        self.buf += b"] "


def encode_chunks(response: Response, utf8: bool = False) -> list[Chunk]:
    """The response as bytes pieces and ``Stream`` placeholders, in order."""
    out = _Writer(utf8)
    if isinstance(response, StatusResponse):
        tag = response.tag
        if tag is None:
            tag = "*"
        elif not _ASTRING_ATOM.fullmatch(tag.encode("ascii", "replace")) or "+" in tag:
            raise LocalProtocolError(f"bad tag {tag!r}")
        out.buf += f"{tag} {response.status.value} ".encode("ascii")
        if response.code is not None:
            out.code(response.code)
        out.buf += clean_text(response.text, utf8)
    elif isinstance(response, Data):
        out.buf += b"*"
        for value in response.values:
            out.buf += b" "
            out.value(value)
    elif isinstance(response, Continuation):
        if response.data is not None:
            out.buf += b"+ " + base64.b64encode(response.data)
        else:
            out.buf += b"+ " + clean_text(response.text, utf8)
    else:  # pragma: no cover
        raise LocalProtocolError(f"not a response: {response!r}")
    out.buf += CRLF
    return out.finish()


def encode_value(value: Value, utf8: bool = False) -> bytes:
    """One data value as bytes, e.g. to cache a message's ENVELOPE or BODYSTRUCTURE and send
    it later as ``Raw`` (an 8-bit string is a literal unless ``utf8``: cache per mode)."""
    out = _Writer(utf8)
    out.value(value)
    chunks = out.finish()
    if len(chunks) != 1 or not isinstance(chunks[0], bytes):
        raise LocalProtocolError("a Stream cannot be encoded as one value")
    return chunks[0]


def encode(response: Response, utf8: bool = False) -> bytes:
    """The response as bytes (no streamed literals allowed here)."""
    chunks = encode_chunks(response, utf8)
    if len(chunks) != 1 or not isinstance(chunks[0], bytes):
        raise LocalProtocolError("a response with a Stream needs encode_chunks")
    return chunks[0]
