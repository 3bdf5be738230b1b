"""Decoded header fields for SEARCH, SORT and THREAD (RFC 3501 6.4.4, RFC 5256 2-3,
RFC 5957 DISPLAYFROM/DISPLAYTO), computed once at parse time.

Everything here is text (str): encoded-words decoded (RFC 2047), raw 8-bit read as UTF-8
(RFC 6532) or else Latin-1. ``base_subject`` implements RFC 5256 2.1 step by step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from mailkeep.mail.charset import decode_header_value
from mailkeep.mail.envelope import Envelope, EnvelopeAddress
from mailkeep.mail.headers import HeaderMap

_WSP_RUN = re.compile(r"[ \t\r\n]+")
_NON_WSP = re.compile(r"[^ \t]")
# RFC 5256 5: BLOBCHAR = %x01-5a / %x5c / %x5e-7f; subj-blob = "[" *BLOBCHAR "]" *WSP
_BLOB = r"\[[\x01-\x5a\x5c\x5e-\x7f]*\][ \t]*"
# subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
# subj-leader = (*subj-blob subj-refwd) / WSP
_REFWD = re.compile(rf"(?:re|fwd?)[ \t]*(?:{_BLOB})?:", re.IGNORECASE)
_BLOB_PREFIX = re.compile(_BLOB)
_FWD_HDR = "[fwd:"  # RFC 5256 5: subj-fwd-hdr
_MSG_ID = re.compile(r"<[^<>]*>")


def _leader_end(text: str, start: int, end: int) -> int:
    """End of the subj-leader at ``start`` (step 3), or ``start`` when there is none."""
    if text[start] in " \t":
        return start + 1
    pos = start
    while (blob := _BLOB_PREFIX.match(text, pos, end)) is not None:
        pos = blob.end()
    refwd = _REFWD.match(text, pos, end)
    return start if refwd is None else refwd.end()


def base_subject(subject: str) -> str:
    """The base subject of RFC 5256 2.1 (the decoded subject is the input)."""
    return _extract(subject)[0]


def is_reply_or_forward(subject: str) -> bool:
    """RFC 5256 3 (REFERENCES): extracting the base subject removes a subj-refwd, a "(fwd)"
    trailer or a "[fwd: ...]" wrapper."""
    return _extract(subject)[1]


def _extract(subject: str) -> tuple[str, bool]:
    """The base subject, and whether a reply or forward marker was removed on the way.

    Works on a [start, end) window of the text so that thousands of "Re: ", "[blob] " or
    "(fwd)" cost linear time, not one copy or rescan of the subject each.
    """
    marked = False
    # (1) tabs and continuations become a space; runs of spaces one space.
    text = _WSP_RUN.sub(" ", subject)
    start, end = 0, len(text)
    while True:
        # (2) remove trailing "(fwd)" and white space, repeatedly.
        while end > start:
            if text[end - 1] in " \t":
                end -= 1
            elif text[max(start, end - 5) : end].lower() == "(fwd)":
                end -= 5
                marked = True
            else:
                break
        # (5) repeat (3) and (4) until neither removes anything. When (3) fails after a run
        # of blobs, it fails again after (4) removes the first of them: remember where.
        no_leader_before = -1
        while True:
            before = start
            # (3) remove subj-leader prefixes.
            while start < end and start > no_leader_before:
                leader = _leader_end(text, start, end)
                if leader == start:
                    no_leader_before = _blob_run_end(text, start, end)
                    break
                marked = marked or text[start] not in " \t"
                start = leader
            # (4) remove a leading subj-blob when something non-empty remains.
            blob = _BLOB_PREFIX.match(text, start, end)
            if blob is not None and _NON_WSP.search(text, blob.end(), end):
                start = blob.end()
            if start == before:
                break
        # (6) "[fwd:" ... "]" wraps the whole subject: unwrap and start again at (2).
        if (
            end - start > len(_FWD_HDR)
            and text[start : start + len(_FWD_HDR)].lower() == _FWD_HDR
            and text[end - 1] == "]"
        ):
            start += len(_FWD_HDR)
            end -= 1
            marked = True
            continue
        return text[start:end], marked


def _blob_run_end(text: str, pos: int, end: int) -> int:
    while (blob := _BLOB_PREFIX.match(text, pos, end)) is not None:
        pos = blob.end()
    return pos


@dataclass(frozen=True, slots=True)
class SearchFields:
    """Decoded values for SEARCH/SORT; lists of (display name, addr-spec)."""

    subject: str
    base_subject: str
    from_: tuple[tuple[str, str], ...]
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    bcc: tuple[tuple[str, str], ...]
    sent: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    sort_from: str  # RFC 5256 SORT FROM: addr-mailbox of the first From address
    sort_to: str
    sort_cc: str
    display_from: str  # RFC 5957: display name, else the addr-spec
    display_to: str


def _decoded(addresses: tuple[EnvelopeAddress, ...] | None) -> tuple[tuple[str, str], ...]:
    result = []
    for address in addresses or ():
        if address.host is None:
            continue  # group markers
        display = decode_header_value(address.name) if address.name else ""
        result.append((display, address.addr_spec))
    return tuple(result)


def _first_mailbox(addresses: tuple[EnvelopeAddress, ...] | None) -> str:
    first = _first_address(addresses or ())
    return "" if first is None else decode_header_value(first.mailbox or b"")


def _first_address(addresses: tuple[EnvelopeAddress, ...]) -> EnvelopeAddress | None:
    for address in addresses:
        if address.host is not None:
            return address
    return None


def _display(addresses: tuple[tuple[str, str], ...]) -> str:
    # RFC 5957 3: the display-name of the first address if present, else its addr-spec.
    if not addresses:
        return ""
    name, addr_spec = addresses[0]
    return name.strip() or addr_spec


def parse_sent_date(value: bytes | None) -> datetime | None:
    """A lenient RFC 5322 3.3 date as an aware datetime (no zone or -0000 read as UTC)."""
    if value is None:
        return None
    text = decode_header_value(value)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _text_or_none(value: bytes | None) -> str | None:
    return None if value is None else decode_header_value(value)


def build_search_fields(header: HeaderMap, envelope: Envelope) -> SearchFields:
    """Decode the fields SEARCH and SORT use from a message's top header block; address
    lists come from its ``envelope`` (parsed once)."""
    subject = decode_header_value(header.get(b"subject") or b"")
    from_ = _decoded(envelope.from_)
    to = _decoded(envelope.to)
    references_raw = header.get(b"references") or b""
    references = tuple(_MSG_ID.findall(decode_header_value(references_raw)))
    return SearchFields(
        subject=subject,
        base_subject=base_subject(subject),
        from_=from_,
        to=to,
        cc=_decoded(envelope.cc),
        bcc=_decoded(envelope.bcc),
        sent=parse_sent_date(header.get(b"date")),
        message_id=_text_or_none(header.get(b"message-id")),
        in_reply_to=_text_or_none(header.get(b"in-reply-to")),
        references=references,
        sort_from=_first_mailbox(envelope.from_),
        sort_to=_first_mailbox(envelope.to),
        sort_cc=_first_mailbox(envelope.cc),
        display_from=_display(from_),
        display_to=_display(to),
    )
