"""Decoded body content: IMAP BINARY (RFC 3516 / RFC 9051 6.4.5), the full-text index text,
and the RFC 8970 PREVIEW.

``decode_part_body`` undoes a Content-Transfer-Encoding (RFC 2045 6) and raises
``UnknownTransferEncoding`` for one it does not know, so IMAP can answer [UNKNOWN-CTE].
``text_for_index`` and ``preview`` are total and bounded: they read at most a fixed number of
octets per part, whatever the message size.
"""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Iterator

from mailkeep.mail.charset import decode_header_value, decode_text
from mailkeep.mail.mime import MessageInfo, Part

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(b for b in range(256) if b not in _BASE64_ALPHABET)
_QP_SOFT_BREAK = re.compile(rb"=[ \t]*(?:\r\n|\n|\r)")
_HTML_HIDDEN = re.compile(r"<(script|style|head)\b", re.IGNORECASE)
# Bounded and stopping at the next "<", so a page of unclosed "<" stays linear.
_HTML_TAG = re.compile(r"<[^<>]{0,2000}>")
_SPACES = re.compile(r"\s+")

IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})  # RFC 2045 6.1, RFC 3030 3
PREVIEW_CHARS = 200  # RFC 8970 3.1 suggests around 200 characters
PREVIEW_OCTETS = 256  # RFC 8970 3.1: no more than 256 octets
_PREVIEW_HTML_CHARS = 64 * 1024
# How much encoded body one part may contribute: enough for any real text, bounded for junk.
_INDEX_OCTETS_PER_CHAR = 4


class UnknownTransferEncoding(ValueError):
    """The part's Content-Transfer-Encoding is none of RFC 2045's; IMAP: [UNKNOWN-CTE]."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unknown content-transfer-encoding {encoding!r}")
        self.encoding = encoding


def decode_base64(data: bytes) -> bytes:
    """RFC 2045 6.8, leniently: characters outside the alphabet are ignored, the data ends at
    the first "=" padding, and a dangling final sextet is dropped."""
    pad = data.find(b"=")
    cleaned = (data if pad < 0 else data[:pad]).translate(None, _NOT_BASE64)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return binascii.a2b_base64(cleaned)
    except binascii.Error:  # not reachable with the cleaning above; keep total anyway
        return b""


def decode_quoted_printable(data: bytes) -> bytes:
    """RFC 2045 6.7: soft line breaks (also before CRLF, LF or CR) removed; bad escapes kept."""
    return binascii.a2b_qp(_QP_SOFT_BREAK.sub(b"", data))


def decode_part_body(raw: bytes, part: Part) -> bytes:
    """The body of ``part`` with its transfer encoding undone (RFC 2045 6)."""
    body = raw[part.body_start : part.body_end]
    return _decode(body, part.encoding)


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding in IDENTITY_ENCODINGS:
        return body
    if encoding == "base64":
        return decode_base64(body)
    if encoding == "quoted-printable":
        return decode_quoted_printable(body)
    raise UnknownTransferEncoding(encoding)


def _text_parts(part: Part) -> Iterator[Part]:
    """text/plain and text/html leaves in order; inside alternatives the plain one only."""
    if part.is_multipart:
        if part.subtype == "alternative":
            plain = [c for c in part.children if (c.type, c.subtype) == ("text", "plain")]
            if plain:
                yield from _text_parts(plain[0])
                return
            if part.children:
                yield from _text_parts(part.children[-1])  # the richest rendering
            return
        for child in part.children:
            yield from _text_parts(child)
    elif part.message is not None:
        yield from _text_parts(part.message.body)
    elif part.type == "text" and part.subtype in ("plain", "html"):
        if part.disposition != "attachment":
            yield part


def _strip_html(text: str) -> str:
    """Visible text of HTML, cheaply: hidden elements and tags dropped, entities decoded."""
    lowered = text.lower()
    kept: list[str] = []
    pos = 0
    while True:
        hidden = _HTML_HIDDEN.search(text, pos)
        if hidden is None:
            kept.append(text[pos:])
            break
        kept.append(text[pos : hidden.start()])
        close = lowered.find("</" + hidden.group(1).lower(), hidden.end())
        if close < 0:
            break  # never closed: the rest is hidden
        end = lowered.find(">", close)
        pos = len(text) if end < 0 else end + 1
    return html.unescape(_HTML_TAG.sub(" ", " ".join(kept)))


def part_text(raw: bytes, part: Part, max_chars: int) -> str:
    """Up to about ``max_chars`` characters of a text part, decoded; "" when undecodable."""
    # Decoding a prefix of the encoded body is safe: base64 and QP decode line by line.
    end = min(part.body_end, part.body_start + max_chars * _INDEX_OCTETS_PER_CHAR)
    body = raw[part.body_start : end]
    try:
        data = _decode(body, part.encoding)
    except UnknownTransferEncoding:
        return ""
    text = decode_text(data, part.params.get("charset") or "us-ascii")
    if part.subtype == "html":
        text = _strip_html(text)
    return text[:max_chars]


def text_for_index(raw: bytes, info: MessageInfo, limit: int = 200_000) -> str:
    """Decoded header values and body text for the full-text index, at most ``limit`` chars."""
    limit = max(limit, 0)
    search = info.search
    pieces = [search.subject]
    for name, address in (*search.from_, *search.to, *search.cc, *search.bcc):
        pieces.append(f"{name} {address}".strip())
    for part in info.body.walk():
        if part.description:
            pieces.append(decode_header_value(part.description))
        filename = part.disposition_params.get("filename") or part.params.get("name")
        if filename:
            pieces.append(filename)
    text = "\n".join(p for p in pieces if p)
    out = [text[:limit]]
    budget = limit - len(out[0])
    for part in _text_parts(info.body):
        if budget <= 0:
            break
        chunk = part_text(raw, part, budget)
        out.append(chunk)
        budget -= len(chunk) + 1
    return "\n".join(out)[:limit]


def preview(raw: bytes, info: MessageInfo) -> str:
    """RFC 8970 PREVIEW: the start of the first text part, white space collapsed, at most
    PREVIEW_CHARS characters and PREVIEW_OCTETS octets of UTF-8; "" when there is no text."""
    for part in _text_parts(info.body):
        # HTML needs room for its markup (a head full of styles is common) before
        # PREVIEW_CHARS characters of text remain.
        room = _PREVIEW_HTML_CHARS if part.subtype == "html" else PREVIEW_CHARS * 2
        text = part_text(raw, part, room)
        text = _SPACES.sub(" ", text).strip()
        if not text:
            continue
        text = text[:PREVIEW_CHARS]
        encoded = text.encode("utf-8")
        if len(encoded) > PREVIEW_OCTETS:
            text = encoded[:PREVIEW_OCTETS].decode("utf-8", errors="ignore")
        return text
    return ""
