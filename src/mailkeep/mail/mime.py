"""MIME structure with byte offsets (RFC 2045, RFC 2046 5.1, RFC 5322 2.1; RFC 3501 6.4.5 part
numbering, 7.4.2 BODYSTRUCTURE) for the store and IMAP FETCH.

``parse_message`` scans raw bytes once and returns a ``MessageInfo``: sizes, ENVELOPE, the
part tree with the offsets of every header and body, and decoded SEARCH/SORT fields. The
standard library's ``email`` package does not keep offsets, so the structure scanner is ours;
decoding (RFC 2047 words, dates, charsets) uses the stdlib (docs/decisions/0002).

Implementation notes (invariants):
- Total: any input gives a MessageInfo. Broken structure degrades metadata, never raises.
- Offsets are absolute in the message and nested: for every part
  ``header_start <= body_start <= body_end <= len(raw)``; children lie inside their parent's
  body; an embedded message's body part starts at its container's ``body_start``.
- Linear time: each open boundary is looked for with ``bytes.find`` of line ending + "--" +
  boundary, and each nesting level remembers how far it has searched, so no level rescans
  the message (a level costs at most one pass, and levels are capped). Header searches are
  bounded by the next delimiter, so a part without a blank line cannot make them run on.
- Delimiters follow RFC 2046 5.1.1 strictly: "--" + boundary at a line start, then only
  white space ("--" more for the close); a line merely starting with it is content. On a
  tie (the same boundary nested) the innermost multipart owns the line.
- Header field values kept for ENVELOPE and search are cut at MAX_FIELD_OCTETS.
- Line endings: LF or CRLF; a message with no LF at all is read with lone-CR endings. The
  line ending before a boundary belongs to the boundary (RFC 2046 5.1.1).
- Limits: below ``max_depth`` nesting levels and ``max_parts`` parts; past them a multipart
  or message/rfc822 is an opaque application/octet-stream leaf (as is a message/rfc822 in
  base64 or quoted-printable), and surplus sibling parts are not listed. So a multipart
  always has children and a message/rfc822 or message/global part always has ``message``.
- A multipart without a boundary parameter is read as text/plain (RFC 2045 5.2: an invalid
  Content-Type means text/plain); one in which no delimiter is found gets a single empty
  text/plain child, so IMAP BODYSTRUCTURE always has a part to show.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailkeep.mail.envelope import Envelope, build_envelope
from mailkeep.mail.headers import HeaderMap
from mailkeep.mail.params import FieldValue, Params, parse_field
from mailkeep.mail.sortfields import SearchFields, build_search_fields

# Recursion bound whatever the caller asks: each level costs a few Python frames.
_HARD_MAX_DEPTH = 128
# Header values kept for ENVELOPE and search are cut at this size: RFC 5322 2.1.1 limits a
# line to 998 octets, and a long To/References list stays far below it; a larger value is
# an attack on memory (the whole message stays available for BODY[HEADER] anyway).
MAX_FIELD_OCTETS = 256 * 1024
_IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})  # RFC 2046 5.2.1
_MESSAGE_TYPES = frozenset({("message", "rfc822"), ("message", "global")})  # + RFC 6532 3.7
_TYPE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9a-z\x80-\xff]+)/([!#$%&'*+\-.^_`|~0-9a-z\x80-\xff]+)$")
_NO_PARAMS = Params()
_OPAQUE = ("application", "octet-stream", _NO_PARAMS)
_CTE_NOISE = re.compile(rb"\([^()]*\)|[ \t\r\n\"]")
_US_ASCII = Params(raw=((b"charset", b"us-ascii"),), decoded=(("charset", "us-ascii"),))


@dataclass(frozen=True, slots=True)
class EmbeddedMessage:
    """The message inside a message/rfc822 part: its ENVELOPE and its top-level body."""

    envelope: Envelope
    body: Part


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME entity. ``raw[header_start:body_start]`` is its header (with the blank line),
    ``raw[body_start:body_end]`` its body; ``lines`` counts body lines."""

    header_start: int
    body_start: int
    body_end: int
    lines: int
    type: str  # lower-case, e.g. "text"
    subtype: str  # lower-case, e.g. "plain"
    params: Params
    content_id: bytes | None = None
    description: bytes | None = None
    encoding: str = "7bit"  # Content-Transfer-Encoding, lower-case (RFC 2045 6.1 default)
    md5: bytes | None = None
    disposition: str | None = None  # lower-case, e.g. "attachment"
    disposition_params: Params = _NO_PARAMS
    language: tuple[bytes, ...] | None = None
    location: bytes | None = None
    children: tuple[Part, ...] = ()
    message: EmbeddedMessage | None = None

    @property
    def size(self) -> int:
        """Body size in octets (BODYSTRUCTURE body-fld-octets)."""
        return self.body_end - self.body_start

    @property
    def is_multipart(self) -> bool:
        return self.type == "multipart"

    def walk(self) -> Iterator[Part]:
        """This part and every part below it, depth first, embedded messages included."""
        yield self
        for child in self.children:
            yield from child.walk()
        if self.message is not None:
            yield from self.message.body.walk()


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What the store caches per message so that FETCH, SEARCH and SORT need no re-parse."""

    size: int  # RFC822.SIZE
    header_size: int  # octets of the top header including the blank line
    lines: int  # lines in the whole message
    envelope: Envelope
    body: Part  # the top-level entity: header_start 0, body_start == header_size
    search: SearchFields

    def to_bytes(self) -> bytes:
        """A compact serialisation (see ``mailkeep.mail.infocodec``)."""
        from mailkeep.mail.infocodec import encode_info

        return encode_info(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> MessageInfo:
        """Inverse of ``to_bytes``; raises ValueError on data it did not write."""
        from mailkeep.mail.infocodec import decode_info

        return decode_info(data)


def find_part(info: MessageInfo, section: tuple[int, ...]) -> Part | None:
    """The part a section number names (RFC 3501 6.4.5), or None when there is none.

    ``()`` is the whole message; a message that is not multipart has only part 1; the parts
    of a message/rfc822 part are numbered as those of its embedded message.
    """
    part: Part = info.body
    container: Part | None = info.body  # where the next number is looked up
    for number in section:
        if container is None or number < 1:
            return None
        if container.is_multipart:
            if number > len(container.children):
                return None
            part = container.children[number - 1]
        elif number == 1:
            part = container
        else:
            return None
        if part.is_multipart:
            container = part  # its subparts are its children
        elif part.message is not None:
            container = part.message.body  # numbered as the embedded message's parts
        else:
            container = None
    return part


@dataclass(frozen=True, slots=True)
class _Hit:
    """A boundary delimiter line: the body before it ends at ``body_end``."""

    body_end: int  # start of the line ending that precedes the delimiter line
    line_start: int
    after: int  # first octet after the delimiter line and its ending
    level: int  # depth in the boundary stack of the multipart it belongs to
    close: bool  # "--boundary--"


class _Scanner:
    def __init__(self, raw: bytes, max_depth: int, max_parts: int) -> None:
        self.raw = raw
        self.length = len(raw)
        # A message with no LF at all is read with lone-CR line endings.
        self.eol = b"\r" if b"\n" not in raw and b"\r" in raw else b"\n"
        blank = rb"\r\r" if self.eol == b"\r" else rb"\n\r?\n"
        self.blank = re.compile(blank)
        self.max_depth = min(max(max_depth, 0), _HARD_MAX_DEPTH)
        self.max_parts = max(max_parts, 1)
        self.parts = 0
        self.stack: list[bytes] = []  # open boundaries, outermost first
        # Per level: (searched from, first delimiter at or after it). A level's search only
        # moves forward, so each boundary costs one pass over the message at most.
        self.level_hits: list[tuple[int, _Hit | None]] = []
        self.cache: tuple[int, _Hit | None] | None = None  # the same over all levels

    # -- boundaries --------------------------------------------------------------------

    def push(self, boundary: bytes) -> int:
        self.stack.append(boundary)
        self.level_hits.append((self.length + 1, None))  # nothing searched yet
        self.cache = None
        return len(self.stack) - 1

    def pop(self) -> None:
        self.stack.pop()
        self.level_hits.pop()
        self.cache = None

    def _delimiter(self, line_start: int, level: int) -> _Hit | None:
        """A hit if the line at ``line_start`` (known to begin "--" + boundary) is one."""
        raw = self.raw
        rest = line_start + 2 + len(self.stack[level])
        line_end = raw.find(self.eol, rest)
        after = self.length if line_end < 0 else line_end + 1
        if line_end < 0:
            line_end = self.length
        tail = raw[rest:line_end]
        if self.eol == b"\n" and tail.endswith(b"\r"):
            tail = tail[:-1]
        # RFC 2046 5.1.1: transport padding (white space) may follow the boundary.
        tail = tail.rstrip(b" \t")
        if tail not in (b"", b"--"):
            return None
        body_end = line_start
        if line_start > 0 and raw[line_start - 1] in (0x0A, 0x0D):
            body_end -= 1  # the LF (or lone CR) before the delimiter
            if self.eol == b"\n" and body_end > 0 and raw[body_end - 1] == 0x0D:
                body_end -= 1
        return _Hit(body_end, line_start, after, level, tail == b"--")

    def _level_hit(self, level: int, pos: int) -> _Hit | None:
        searched, found = self.level_hits[level]
        if searched <= pos and (found is None or found.line_start >= pos):
            return found
        raw = self.raw
        marker = b"--" + self.stack[level]
        result: _Hit | None = None
        if raw.startswith(marker, pos) and (pos == 0 or raw[pos - 1] in (0x0A, 0x0D)):
            result = self._delimiter(pos, level)
        needle = self.eol + marker
        start = pos
        while result is None:
            index = raw.find(needle, start)
            if index < 0:
                break
            result = self._delimiter(index + 1, level)
            start = index + 1
        self.level_hits[level] = (pos, result)
        return result

    def next_hit(self, pos: int) -> _Hit | None:
        """The first delimiter line of an open boundary starting at or after ``pos``; on a
        tie (the same boundary nested) the innermost multipart owns it."""
        cached = self.cache
        if cached is not None and cached[0] <= pos:
            found = cached[1]
            if found is None or found.line_start >= pos:
                return found
        best: _Hit | None = None
        for level in range(len(self.stack)):
            hit = self._level_hit(level, pos)
            if hit is not None and (best is None or hit.line_start <= best.line_start):
                best = hit
        self.cache = (pos, best)
        return best

    # -- entities ----------------------------------------------------------------------

    def header_end(self, start: int, limit: int) -> int:
        """Offset just past the blank line ending the header at ``start`` (or ``limit``)."""
        raw = self.raw
        if raw.startswith(b"\r\n", start) and self.eol == b"\n":
            return start + 2
        if raw.startswith(self.eol, start):
            return start + 1
        match = self.blank.search(raw, start, limit)
        return limit if match is None else match.end()

    def entity(
        self, start: int, depth: int, default: tuple[str, str]
    ) -> tuple[Part, _Hit | None, HeaderMap]:
        """Parse the entity whose header starts at ``start``; also the hit that ends it."""
        self.parts += 1
        hit = self.next_hit(start)
        body_start = self.header_end(start, self.length if hit is None else hit.line_start)
        if hit is not None and body_start > hit.body_end:
            # The header runs up to the delimiter: the line ending before it belongs to the
            # boundary (RFC 2046 5.1.1), so the header stops short of it; the body is empty.
            body_start = max(start, hit.body_end)
        headers = HeaderMap(self.raw, start, body_start, MAX_FIELD_OCTETS)
        ctype, subtype, params = _content_type(headers.get(b"content-type"), default)
        encoding = _encoding(headers.get(b"content-transfer-encoding"))
        children: tuple[Part, ...] = ()
        message: EmbeddedMessage | None = None
        boundary = _boundary(params) if ctype == "multipart" else None
        deep = depth >= self.max_depth or self.parts >= self.max_parts
        embedded = (ctype, subtype) in _MESSAGE_TYPES
        if (boundary is not None and deep) or (
            embedded and (deep or encoding not in _IDENTITY_ENCODINGS)
        ):
            # Past a limit, or a message/rfc822 in base64 or QP (RFC 2046 5.2.1 forbids it):
            # an opaque leaf, typed so that BODYSTRUCTURE stays well-formed.
            ctype, subtype, params = _OPAQUE
            boundary, embedded = None, False
        if boundary is not None:
            children, hit = self.multipart(body_start, depth, boundary, subtype)
            if not children:
                children = (_empty_part(body_start),)
        elif embedded:
            inner, hit, inner_headers = self.entity(body_start, depth + 1, ("text", "plain"))
            message = EmbeddedMessage(build_envelope(inner_headers), inner)
        body_end = max(self.length if hit is None else hit.body_end, body_start)
        part = _make_part(
            self,
            headers,
            (start, body_start, body_end),
            (ctype, subtype, params, encoding),
            children,
            message,
        )
        return part, hit, headers

    def multipart(
        self, body_start: int, depth: int, boundary: bytes, subtype: str
    ) -> tuple[tuple[Part, ...], _Hit | None]:
        """Children of a multipart whose body starts at ``body_start``; the ending hit."""
        level = self.push(boundary)
        # RFC 2046 5.1.5: in a digest the default type of a part is message/rfc822.
        default = ("message", "rfc822") if subtype == "digest" else ("text", "plain")
        children: list[Part] = []
        try:
            hit = self.next_hit(body_start)
            while hit is not None and hit.level == level and not hit.close:
                if self.parts >= self.max_parts:
                    hit = self.next_hit(hit.after)  # over the limit: skip the part
                    continue
                child, hit, _ = self.entity(hit.after, depth + 1, default)
                children.append(child)
        finally:
            self.pop()
        if hit is not None and hit.level == level:
            hit = self.next_hit(hit.after)  # the epilogue runs to an outer boundary or the end
        return tuple(children), hit


def _empty_part(at: int) -> Part:
    return Part(at, at, at, 0, "text", "plain", _US_ASCII)


def _boundary(params: Params) -> bytes | None:
    """The boundary as written (matched byte for byte, so not charset-decoded), or its
    RFC 2231 form (boundary*=us-ascii''...) decoded when that is all there is."""
    for name, value in params.raw:
        if name.lower() == b"boundary":
            return value or None
    decoded = params.get("boundary")
    return decoded.encode("utf-8", errors="replace") if decoded else None


def _content_type(value: bytes | None, default: tuple[str, str]) -> tuple[str, str, Params]:
    """RFC 2045 5.2: a missing or invalid Content-Type means the default (text/plain)."""
    if value is not None:
        field = parse_field(value)
        match = _TYPE.match(field.value)
        if match is not None:
            ctype = match.group(1).decode("latin-1")
            subtype = match.group(2).decode("latin-1")
            if ctype != "multipart" or _boundary(field.params):
                return ctype, subtype, field.params
    if default == ("text", "plain"):
        return "text", "plain", _US_ASCII
    return default[0], default[1], _NO_PARAMS


def _encoding(value: bytes | None) -> str:
    if not value:
        return "7bit"
    text = _CTE_NOISE.sub(b"", value).lower()
    return text.decode("latin-1") or "7bit"


def _count_lines(scanner: _Scanner, start: int, end: int) -> int:
    if end <= start:
        return 0
    lines = scanner.raw.count(scanner.eol, start, end)
    last = scanner.raw[end - 1]
    return lines if last in (0x0A, 0x0D) else lines + 1


def _make_part(
    scanner: _Scanner,
    headers: HeaderMap,
    offsets: tuple[int, int, int],
    content: tuple[str, str, Params, str],
    children: tuple[Part, ...],
    message: EmbeddedMessage | None,
) -> Part:
    start, body_start, body_end = offsets
    ctype, subtype, params, encoding = content
    disposition: FieldValue | None = None
    raw_disposition = headers.get(b"content-disposition")
    if raw_disposition:
        disposition = parse_field(raw_disposition)
    raw_language = headers.get(b"content-language")
    # RFC 3282 2: a comma-separated list of language tags
    languages = tuple(t.strip() for t in (raw_language or b"").split(b",") if t.strip())
    return Part(
        header_start=start,
        body_start=body_start,
        body_end=body_end,
        lines=_count_lines(scanner, body_start, body_end),
        type=ctype,
        subtype=subtype,
        params=params,
        content_id=headers.get(b"content-id"),
        description=headers.get(b"content-description"),
        encoding=encoding,
        md5=headers.get(b"content-md5"),
        disposition=(disposition.value.decode("latin-1") or None) if disposition else None,
        disposition_params=disposition.params if disposition else _NO_PARAMS,
        language=languages or None,
        location=headers.get(b"content-location"),
        children=children,
        message=message,
    )


def parse_message(raw: bytes, *, max_depth: int = 100, max_parts: int = 10000) -> MessageInfo:
    """Parse ``raw`` (a whole message) into a MessageInfo; never raises."""
    scanner = _Scanner(raw, max_depth, max_parts)
    body, _, headers = scanner.entity(0, 0, ("text", "plain"))
    envelope = build_envelope(headers)
    return MessageInfo(
        size=len(raw),
        header_size=body.body_start,
        lines=_count_lines(scanner, 0, len(raw)),
        envelope=envelope,
        body=body,
        search=build_search_fields(headers, envelope),
    )
