"""Charset and encoded-word decoding for display and search (RFC 2047, RFC 2231, RFC 6532).

Every function here is total: unknown charsets fall back to Latin-1 (every byte maps to a
character) and undecodable bytes become U+FFFD, so a hostile header can degrade what a person
sees but never raise.
"""

from __future__ import annotations

import binascii
import codecs
import re

# RFC 2047 2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="; the charset may
# carry an RFC 2231 5 language suffix ("*en").
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
# RFC 2047 6.2: white space between adjacent encoded-words is not displayed.
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?)")
_FOLDING = re.compile(r"\r\n|\n|\r")

# Names mail software writes that Python's codec registry does not know.
_ALIASES = {
    "unknown-8bit": "latin-1",
    "x-unknown": "latin-1",
    "ks_c_5601-1987": "cp949",
    "x-user-defined": "latin-1",
    "utf8": "utf-8",
    "x-mac-roman": "mac-roman",
    "gb2312": "gb18030",  # a superset; mailers label GBK/GB18030 text as gb2312
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
}


def codec_for(charset: str | None) -> str | None:
    """The Python text codec for a MIME charset name, or None when there is none."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # e.g. "base64_codec" or "zlib_codec": not a charset
    return info.name


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode body or header bytes in ``charset``; UTF-8 or Latin-1 when it is unknown (or
    US-ASCII, since that label hides 8-bit text so often)."""
    codec = codec_for(charset)
    if codec == "ascii":
        codec = None  # 8-bit text labelled us-ascii is common; read it as UTF-8 or Latin-1
    if codec is not None:
        try:
            return data.decode(codec, errors="replace")
        except (LookupError, ValueError, TypeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def header_text(raw: bytes) -> str:
    """Header bytes as text: UTF-8 (RFC 6532) when valid, else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _word_payload(match: re.Match[str]) -> bytes | None:
    encoding, text = match.group(2).lower(), match.group(3)
    data = text.encode("ascii", errors="replace")
    try:
        if encoding == "b":
            # RFC 2047 4.1; lenient about missing padding and stray characters.
            cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
            if len(cleaned) % 4 == 1:
                cleaned = cleaned[:-1]
            return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
        return binascii.a2b_qp(data, header=True)  # RFC 2047 4.2: "_" is a space
    except (binascii.Error, ValueError):
        return None


def decode_header_value(raw: bytes | str) -> str:
    """An unstructured header value for display: unfolded, encoded-words decoded.

    Adjacent encoded-words in one charset are joined before decoding, so a multi-byte
    character split across two words (common in the wild) comes out whole.
    """
    text = header_text(raw) if isinstance(raw, bytes) else raw
    text = _FOLDING.sub("", text)
    if "=?" not in text:
        return text
    text = _BETWEEN_WORDS.sub(r"\1", text)
    out: list[str] = []
    pending: bytes = b""
    pending_charset: str | None = None
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        payload = _word_payload(match)
        charset = match.group(1).lower()
        if match.start() != pos or payload is None or charset != pending_charset:
            if pending_charset is not None:
                out.append(decode_text(pending, pending_charset))
                pending, pending_charset = b"", None
            out.append(text[pos : match.start()])
        if payload is None:
            out.append(match.group(0))
        else:
            pending += payload
            pending_charset = charset
        pos = match.end()
    if pending_charset is not None:
        out.append(decode_text(pending, pending_charset))
    out.append(text[pos:])
    return "".join(out)
