"""Parse a message once at delivery and pull out what the store caches and indexes.

Parsing is ``mail.mime.parse_message`` (total: never raises, broken input degrades the
metadata); this module only shapes its result for the store: the serialised MessageInfo,
the SORT/THREAD fields, the decoded header lines and body text for search, the preview.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mailkeep.mail.bodytext import part_text, preview
from mailkeep.mail.charset import decode_header_value, header_text
from mailkeep.mail.envelope import Envelope, EnvelopeAddress
from mailkeep.mail.headers import iter_fields
from mailkeep.mail.mime import MessageInfo, Part, parse_message
from mailkeep.store.models import HeaderFields
from mailkeep.store.query import INDEXED_HEADERS

# Bounds on what one message adds to the search index: enough for any real mail, bounded
# for junk (a 50 MB single line). Text past them is not found by BODY/TEXT/HEADER search.
MAX_HEADER_TEXT_CHARS = 256 * 1024
MAX_BODY_TEXT_CHARS = 1024 * 1024

_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What delivery caches for one message (shared by every copy of it).

    ``header_text``: one "name: value" line per field, name lowercase, value decoded and
    unfolded. ``body_text``: the decoded text of the text parts. ``indexed``: the decoded
    values of subject/from/to/cc/bcc (several fields of a name joined with ", ").
    """

    info: bytes
    envelope: bytes
    fields: HeaderFields
    indexed: dict[str, str]
    header_text: str
    body_text: str
    preview: str


# The envelope is cached on its own, in marshal form: FETCH 1:* ENVELOPE decodes it for
# every message, and unmarshalling a tuple of bytes is twenty times cheaper than decoding a
# whole MessageInfo. marshal is safe here: the store reads only what it wrote itself.
_ENVELOPE_FORMAT = 1


def _pack_addresses(value: tuple[EnvelopeAddress, ...] | None) -> Any:
    if value is None:
        return None
    return tuple((a.name, a.adl, a.mailbox, a.host) for a in value)


def pack_envelope(env: Envelope) -> bytes:
    """The envelope as compact bytes for the store's cache."""
    return marshal.dumps(
        (
            _ENVELOPE_FORMAT,
            env.date,
            env.subject,
            *(_pack_addresses(v) for v in (env.from_, env.sender, env.reply_to, env.to)),
            *(_pack_addresses(v) for v in (env.cc, env.bcc)),
            env.in_reply_to,
            env.message_id,
        )
    )


# Address lists repeat (From = Sender = Reply-To; the same correspondents message after
# message) and the objects are immutable: share them. Bounded: cleared when full.
_ADDRESS_CACHE: dict[Any, tuple[EnvelopeAddress, ...]] = {}
_ADDRESS_CACHE_SIZE = 4096


def _unpack_addresses(value: Any) -> tuple[EnvelopeAddress, ...] | None:
    if value is None:
        return None
    found = _ADDRESS_CACHE.get(value)
    if found is None:
        if len(_ADDRESS_CACHE) >= _ADDRESS_CACHE_SIZE:
            _ADDRESS_CACHE.clear()
        found = _ADDRESS_CACHE[value] = tuple(EnvelopeAddress(*a) for a in value)
    return found


def unpack_envelope(data: bytes) -> Envelope:
    """The inverse of ``pack_envelope``."""
    fields = marshal.loads(data)  # noqa: S302 (only bytes the store wrote itself)
    if fields[0] != _ENVELOPE_FORMAT:
        raise ValueError("unknown envelope cache format")
    # Positional, in Envelope's field order (date, subject, from, sender, reply-to, to, cc,
    # bcc, in-reply-to, message-id): measurably cheaper for FETCH 1:* ENVELOPE.
    return Envelope(
        fields[1],
        fields[2],
        _unpack_addresses(fields[3]),
        _unpack_addresses(fields[4]),
        _unpack_addresses(fields[5]),
        _unpack_addresses(fields[6]),
        _unpack_addresses(fields[7]),
        _unpack_addresses(fields[8]),
        fields[9],
        fields[10],
    )


def _body_parts(part: Part) -> Iterator[Part]:
    """Text leaves that are not attachments; of an alternative, the plain one (or the last)."""
    if part.is_multipart:
        children = part.children
        if part.subtype == "alternative" and children:
            plain = [c for c in children if (c.type, c.subtype) == ("text", "plain")]
            children = (plain[0] if plain else children[-1],)
        for child in children:
            yield from _body_parts(child)
    elif part.message is not None:
        yield from _body_parts(part.message.body)
    elif part.type == "text" and part.disposition != "attachment":
        yield part


def _header_lines(raw: bytes, info: MessageInfo) -> tuple[str, dict[str, str]]:
    lines: list[str] = []
    indexed: dict[str, list[str]] = {}
    size = 0
    for field in iter_fields(raw, 0, info.header_size):
        if not field.name:
            continue
        name = header_text(field.name).lower()
        value = _WS.sub(" ", decode_header_value(raw[field.value_start : field.end])).strip()
        line = f"{name}: {value}"
        size += len(line) + 1
        if size > MAX_HEADER_TEXT_CHARS:
            break
        lines.append(line)
        if name in INDEXED_HEADERS:
            indexed.setdefault(name, []).append(value)
    return "\n".join(lines), {k: ", ".join(v) for k, v in indexed.items()}


def _body_text(raw: bytes, info: MessageInfo) -> str:
    pieces: list[str] = []
    budget = MAX_BODY_TEXT_CHARS
    for part in _body_parts(info.body):
        if budget <= 0:
            break
        text = part_text(raw, part, budget)
        pieces.append(text)
        budget -= len(text) + 1
    return "\n".join(pieces)[:MAX_BODY_TEXT_CHARS]


def extract(raw: bytes) -> Extracted:
    """Parse ``raw`` once; never raises (broken input gives partial or empty metadata)."""
    info = parse_message(raw)
    search = info.search
    fields = HeaderFields(
        subject=search.subject,
        base_subject=search.base_subject,
        sort_from=search.sort_from,
        sort_to=search.sort_to,
        sort_cc=search.sort_cc,
        display_from=search.display_from,
        display_to=search.display_to,
        sent_date=search.sent,
        message_id=search.message_id or "",
        in_reply_to=search.in_reply_to or "",
        references=" ".join(search.references),
    )
    lines, indexed = _header_lines(raw, info)
    return Extracted(
        info=info.to_bytes(),
        envelope=pack_envelope(info.envelope),
        fields=fields,
        indexed=indexed,
        header_text=lines,
        body_text=_body_text(raw, info),
        preview=preview(raw, info),
    )
