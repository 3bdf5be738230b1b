"""Structured MIME field values: Content-Type and Content-Disposition with their parameters
(RFC 2045 5.1, RFC 2183 2, RFC 2231 3-4, RFC 2046 5.1.1).

Parameters keep two readings: ``raw``, the attribute/value pairs as written (quotes removed,
nothing else touched), which IMAP BODYSTRUCTURE reports; and ``decoded``, with RFC 2231
continuations joined and charsets applied (and, leniently, RFC 2047 encoded-words), for
display and search. Parsing is total: junk degrades to fewer parameters, never an exception.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from mailkeep.mail.charset import decode_header_value, decode_text, header_text

# RFC 2045 5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>; we take
# any byte but the separators, so 8-bit junk degrades instead of ending the parse.
_TOKEN = re.compile(rb"[^\x00-\x20()<>@,;:\\\"/\[\]?=\x7f]+")
_WSP = re.compile(rb"(?:[ \t\r\n]+|\((?:[^()\\]|\\.)*\))*", re.DOTALL)
_QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"?', re.DOTALL)
_COMMENT = re.compile(rb"\([^()]*\)")  # stops at "(" too: unclosed ones stay linear
_AROUND_SLASH = re.compile(rb"[ \t\r\n]*/[ \t\r\n]*")
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)
_SECTION = re.compile(r"^(.*?)\*(\d{1,3})?(\*?)\Z")  # RFC 2231 3: name*N and name*N*


@dataclass(frozen=True, slots=True)
class Params:
    """Ordered parameters: ``raw`` as written; ``decoded`` joined and charset-decoded."""

    raw: tuple[tuple[bytes, bytes], ...] = ()
    decoded: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The decoded value of ``name`` (case-insensitive), or None."""
        key = name.lower()
        for attribute, value in self.decoded:
            if attribute == key:
                return value
        return None


@dataclass(frozen=True, slots=True)
class FieldValue:
    """A structured field: its value (e.g. b"text/plain" or b"attachment") and parameters."""

    value: bytes
    params: Params


def _skip(data: bytes, pos: int) -> int:
    match = _WSP.match(data, pos)
    return pos if match is None else match.end()


def _read_value(data: bytes, pos: int) -> tuple[bytes, int]:
    if data[pos : pos + 1] == b'"':
        match = _QUOTED.match(data, pos)
        assert match is not None  # the pattern matches any string starting with a quote
        return _QUOTED_PAIR.sub(rb"\1", match.group(1)), match.end()
    end = data.find(b";", pos)
    end = len(data) if end < 0 else end
    # Lenient (as every mailer is): an unquoted value runs to the ";" (e.g. name=a b.txt),
    # less a trailing comment (charset=us-ascii (Plain text)).
    value = data[pos:end].strip(b" \t\r\n")
    if value.endswith(b")"):
        opening = value.rfind(b"(")
        if opening >= 0:
            value = value[:opening].rstrip(b" \t\r\n")
    return value, end


def parse_field(data: bytes) -> FieldValue:
    """Split ``value *(";" attribute "=" value)``; the value is lower-cased."""
    if len(data) <= _CACHED_OCTETS:
        return _parse_field_cached(data)
    return _parse_field(data)


# The same few Content-Type values recur in every message; the result is immutable.
_CACHED_OCTETS = 256


@functools.lru_cache(maxsize=1024)
def _parse_field_cached(data: bytes) -> FieldValue:
    return _parse_field(data)


def _parse_field(data: bytes) -> FieldValue:
    pos = _skip(data, 0)
    end = data.find(b";", pos)
    end = len(data) if end < 0 else end
    # Comments and the white space around "/" go (RFC 2045 5.1 and RFC 822 lexical rules).
    value = _COMMENT.sub(b"", data[pos:end]).strip(b" \t\r\n")
    value = _AROUND_SLASH.sub(b"/", value).lower()
    pairs: list[tuple[bytes, bytes]] = []
    pos = end
    length = len(data)
    while pos < length:
        pos = _skip(data, pos + 1 if data[pos : pos + 1] == b";" else pos)
        name = _TOKEN.match(data, pos)
        if name is None:
            nxt = data.find(b";", pos + 1)
            if nxt < 0:
                break
            pos = nxt
            continue
        pos = _skip(data, name.end())
        if data[pos : pos + 1] != b"=":
            continue
        pos = _skip(data, pos + 1)
        raw_value, pos = _read_value(data, pos)
        pairs.append((name.group(0), raw_value))
        pos = _skip(data, pos)
        if pos < length and data[pos : pos + 1] != b";":
            nxt = data.find(b";", pos)
            pos = length if nxt < 0 else nxt
    return FieldValue(value, Params(tuple(pairs), _decode_params(pairs)))


def _decode_params(pairs: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Join RFC 2231 continuations, apply charsets; first occurrence of a name wins."""
    order: list[str] = []
    plain: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[bool, bytes]]] = {}
    for raw_name, raw_value in pairs:
        name = raw_name.decode("ascii", errors="replace").lower()
        match = _SECTION.match(name)
        if match is None:
            if name not in plain and name not in sections:
                order.append(name)
                plain[name] = decode_header_value(raw_value)
            continue
        base, number, extended = match.group(1), match.group(2), bool(match.group(3))
        if base in plain:
            continue
        if base not in sections:
            order.append(base)
            sections[base] = {}
        index = int(number) if number is not None else 0
        sections[base].setdefault(index, (extended or number is None, raw_value))
    result = []
    for name in order:
        if name in plain:
            result.append((name, plain[name]))
        else:
            result.append((name, _join_sections(sections[name])))
    return tuple(result)


def _join_sections(parts: dict[int, tuple[bool, bytes]]) -> str:
    charset: str | None = None
    chunks: list[bytes] = []
    for index in sorted(parts):
        extended, value = parts[index]
        if extended:
            if index == 0:
                # RFC 2231 4: charset'language'percent-encoded
                pieces = value.split(b"'", 2)
                if len(pieces) == 3:
                    charset = pieces[0].decode("ascii", errors="replace") or None
                    value = pieces[2]
            chunks.append(unquote_to_bytes(value))
        else:
            chunks.append(value)
    joined = b"".join(chunks)
    if charset is None:
        return decode_header_value(header_text(joined))
    return decode_text(joined, charset)
