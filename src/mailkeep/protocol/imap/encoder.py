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
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
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


def _append_value(out: list[Chunk], value: Value, utf8: bool) -> None:
    """Append the encoding of ``value``; bytes go in ``out[-1]`` when it is bytes."""
    if value is None:
        _put(out, b"NIL")
    elif isinstance(value, bool):
        raise LocalProtocolError("a bool is not an IMAP value")
    elif isinstance(value, int):
        if value < 0:
            raise LocalProtocolError(f"negative number {value}")
        _put(out, b"%d" % value)
    elif isinstance(value, str | bytes):
        _put(out, encode_string(value, utf8))
    elif isinstance(value, Atom):
        _put(out, value.text.encode("ascii"))
    elif isinstance(value, Literal):
        _put(out, literal_header(len(value.data), value.binary) + value.data)
    elif isinstance(value, Stream):
        _put(out, literal_header(value.size, value.binary))
        out.append(value)
    elif isinstance(value, Mailbox):
        _put(out, encode_mailbox(value.name, utf8))
    elif isinstance(value, Raw):
        _put(out, value.data)
    elif isinstance(value, Joined):
        for item in value.items:
            _append_value(out, item, utf8)
    elif isinstance(value, list | tuple):
        _put(out, b"(")
        for i, item in enumerate(value):
            if i:
                _put(out, b" ")
            _append_value(out, item, utf8)
        _put(out, b")")
    else:  # pragma: no cover - the Value union is closed
        raise LocalProtocolError(f"cannot encode {type(value).__name__}")


def _put(out: list[Chunk], data: bytes) -> None:
    if out and isinstance(out[-1], bytes):
        out[-1] += data
    else:
        out.append(data)


def _code(out: list[Chunk], code: Code, utf8: bool) -> None:
    if not _ASTRING_ATOM.fullmatch(code.name.encode("ascii", "replace")) or "]" in code.name:
        raise LocalProtocolError(f"bad response code name {code.name!r}")
    _put(out, b"[" + code.name.encode("ascii"))
    for arg in code.args:
        _put(out, b" ")
        _append_value(out, arg, utf8)
    _put(out, b"] ")


def encode_chunks(response: Response, utf8: bool = False) -> list[Chunk]:
    """The response as bytes pieces and ``Stream`` placeholders, in order."""
    out: list[Chunk] = []
    if isinstance(response, StatusResponse):
        tag = response.tag
        if tag is None:
            tag = "*"
        elif not _ASTRING_ATOM.fullmatch(tag.encode("ascii", "replace")) or "+" in tag:
            raise LocalProtocolError(f"bad tag {tag!r}")
        _put(out, f"{tag} {response.status.value} ".encode("ascii"))
        if response.code is not None:
            _code(out, response.code, utf8)
        _put(out, clean_text(response.text, utf8))
    elif isinstance(response, Data):
        _put(out, b"*")
        for value in response.values:
            _put(out, b" ")
            _append_value(out, value, utf8)
    elif isinstance(response, Continuation):
        if response.data is not None:
            _put(out, b"+ " + base64.b64encode(response.data))
        else:
            _put(out, b"+ " + clean_text(response.text, utf8))
    else:  # pragma: no cover
        raise LocalProtocolError(f"not a response: {response!r}")
    _put(out, CRLF)
    return out


def encode(response: Response, utf8: bool = False) -> bytes:
    """The response as bytes (no streamed literals allowed here)."""
    chunks = encode_chunks(response, utf8)
    if len(chunks) != 1 or not isinstance(chunks[0], bytes):
        raise LocalProtocolError("a response with a Stream needs encode_chunks")
    return chunks[0]
