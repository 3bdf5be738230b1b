"""Header fields on raw bytes (RFC 5322 2.2, 3.6; RFC 3501 6.4.5 HEADER.FIELDS[.NOT]).

The functions here never decode: a field is a slice of the message, so IMAP can return it
byte for byte. A header block is whatever the structure scanner in ``mime`` found between a
part's start and its body; it may or may not end with the blank line.

Implementation notes:
- A line ends at LF, CRLF or a lone CR (the stdlib's reading too); a line starting with SP or
  HT continues the previous field (RFC 5322 2.2.3 folding).
- A line with no colon before its end is kept as a nameless field: lookups skip it, and
  HEADER.FIELDS.NOT returns it (it is not one of the excluded names).
- Field names compare case-insensitively (RFC 5322 1.2.2); obsolete white space between the
  name and the colon is allowed (RFC 5322 4.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_MAX_LINE = 998
_FOLD = re.compile(rb"\r\n|\n|\r")
# A line ending followed by another: the blank line. Atomic, so CRLF is never CR + LF.
_BLANK = re.compile(rb"(?>\r\n|\n|\r)(?=\r\n|\n|\r)")
_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e\x80-\xff]+)[ \t]*:")  # ftext, and 8-bit junk


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One field: ``data[start:end]`` is the field with its folding and final line ending."""

    name: bytes  # as written, without the colon; b"" for a line that has no colon
    start: int
    value_start: int  # just after the colon (== start for a nameless line)
    end: int

    @property
    def key(self) -> bytes:
        """The name lower-cased, for case-insensitive comparison."""
        return self.name.lower()


def _scan(data: bytes, start: int, stop: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(name, start, value_start, end) of each field; bytes.splitlines ends lines exactly
    where this module does (LF, CRLF, lone CR), at C speed."""
    pos = start
    name = b""
    field_start = value_start = -1
    for line in data[start:stop].splitlines(keepends=True):
        first = line[:1]
        if field_start >= 0:
            if first in (b" ", b"\t"):
                pos += len(line)
                continue
            yield name, field_start, value_start, pos
            field_start = -1
        if first in (b"\r", b"\n"):
            return  # the blank line that ends the header
        # RFC 5322 2.1.1: a line is at most 998 octets, so a longer name is no name.
        match = _NAME.match(line, 0, _MAX_LINE)
        name = b"" if match is None else match.group(1)
        field_start = pos
        value_start = pos if match is None else pos + match.end()
        pos += len(line)
    if field_start >= 0:
        yield name, field_start, value_start, pos


def iter_fields(data: bytes, start: int = 0, end: int | None = None) -> Iterator[HeaderField]:
    """Yield the fields of the header block ``data[start:end]``, stopping at a blank line."""
    for name, field_start, value_start, field_end in _scan(
        data, start, len(data) if end is None else end
    ):
        yield HeaderField(name, field_start, value_start, field_end)


class HeaderMap:
    """The fields of one header block, split once, for repeated lookups by name."""

    __slots__ = ("_values",)

    def __init__(
        self, data: bytes, start: int = 0, end: int | None = None, max_value: int | None = None
    ) -> None:
        """Index ``data[start:end]``; values longer than ``max_value`` octets are cut there."""
        values: dict[bytes, list[bytes]] = {}
        stop_all = len(data) if end is None else end
        for name, _, value_start, field_end in _scan(data, start, stop_all):
            if name:
                stop = field_end
                if max_value is not None:
                    stop = min(stop, value_start + max_value)
                key = name.lower()
                value = unfold(data[value_start:stop])
                found = values.get(key)
                if found is None:
                    values[key] = [value]
                else:
                    found.append(value)
        self._values = values

    def get(self, name: bytes) -> bytes | None:
        """The first value of ``name`` (lower-case) unfolded and stripped, or None."""
        found = self._values.get(name)
        return found[0] if found else None

    def get_all(self, name: bytes) -> list[bytes]:
        """Every value of ``name`` (lower-case), in order of appearance."""
        return list(self._values.get(name, ()))


def unfold(value: bytes) -> bytes:
    """Remove the line breaks of folding (RFC 5322 2.2.3) and the outer white space."""
    value = value.strip(b" \t\r\n")
    if b"\n" in value or b"\r" in value:
        value = _FOLD.sub(b"", value)
    return value


def _name_pattern(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?:^|(?<=[\r\n]))" + re.escape(name) + rb"[ \t]*:", re.IGNORECASE)


_PATTERNS: dict[bytes, re.Pattern[bytes]] = {}


def _pattern_for(name: bytes) -> re.Pattern[bytes]:
    key = name.lower()
    pattern = _PATTERNS.get(key)
    if pattern is None:
        pattern = _name_pattern(key)
        if len(_PATTERNS) < 256:
            _PATTERNS[key] = pattern
    return pattern


def _value_end(data: bytes, pos: int) -> int:
    """End of the value starting at ``pos``: the start of the next line not folded."""
    length = len(data)
    while True:
        nl = _FOLD.search(data, pos)
        if nl is None:
            return length
        after = nl.end()
        if after >= length or data[after] not in (0x20, 0x09):
            return nl.start()
        pos = after


def _header_limit(data: bytes) -> int:
    """Offset of the blank line ending the header block, or the end of ``data``."""
    if data[:1] in (b"\r", b"\n"):
        return 0
    blank = _BLANK.search(data)
    return len(data) if blank is None else blank.end()


def _name_bytes(name: bytes | str) -> bytes:
    """A field name as bytes; a name from a client may hold anything (it then matches only
    the same octets), so this never raises."""
    if isinstance(name, bytes):
        return name
    return name.encode("utf-8", errors="surrogateescape")


def get_all_headers(header: bytes, name: bytes | str) -> list[bytes]:
    """Every value of field ``name``, unfolded and stripped, in order of appearance."""
    key = _name_bytes(name)
    limit = _header_limit(header)
    values = []
    for match in _pattern_for(key).finditer(header, 0, limit):
        values.append(unfold(header[match.end() : _value_end(header, match.end())]))
    return values


def get_header(header: bytes, name: bytes | str) -> bytes | None:
    """The first value of field ``name`` unfolded and stripped, or None when absent."""
    key = _name_bytes(name)
    match = _pattern_for(key).search(header, 0, _header_limit(header))
    if match is None:
        return None
    return unfold(header[match.end() : _value_end(header, match.end())])


def _blank_line(header: bytes) -> bytes:
    """The blank line ending ``header`` as written there, or CRLF when there is none."""
    for ending in (b"\r\n", b"\n", b"\r"):
        if header.endswith(ending):
            rest = header[: -len(ending)]
            if not rest or rest.endswith((b"\n", b"\r")):
                return ending
            break
    return b"\r\n"


def select_header_fields(
    header: bytes, names: Iterable[bytes | str], exclude: bool = False
) -> bytes:
    """The fields named in ``names`` (or all others, when ``exclude``) and a blank line.

    IMAP BODY[HEADER.FIELDS (...)] / HEADER.FIELDS.NOT (RFC 3501 6.4.5): each field keeps its
    folding and line ending, in message order; the result ends with the blank line.
    """
    wanted = {_name_bytes(n).lower() for n in names}
    out = []
    for field in iter_fields(header):
        chunk = header[field.start : field.end]
        if not chunk.endswith((b"\n", b"\r")):
            chunk += b"\r\n"  # a header cut short by the end of the message
        selected = bool(field.name) and field.key in wanted
        if selected != exclude:
            out.append(chunk)
    out.append(_blank_line(header))
    return b"".join(out)
