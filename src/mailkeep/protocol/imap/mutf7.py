"""Modified UTF-7 mailbox names (RFC 3501 5.1.3, RFC 9051 5.1.3 for IMAP4rev1 sessions).

Printable US-ASCII other than "&" stands for itself; "&" is "&-"; other characters are
UTF-16BE in modified base64 (RFC 2045 base64 with "," for "/", no padding) between "&" and
"-". Decoding is strict: a name has exactly one encoding, so names that would not be
produced by ``encode`` (padding, empty "&-" runs for ASCII, bad surrogates) are refused.
"""

from __future__ import annotations

import base64
import binascii


class MUTF7Error(ValueError):
    """The bytes are not valid modified UTF-7."""


def _is_direct(ch: str) -> bool:
    return "\x20" <= ch <= "\x7e"


def encode(name: str) -> bytes:
    """``name`` in modified UTF-7."""
    out = bytearray()
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = "".join(run).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(raw).rstrip(b"=").replace(b"/", b",") + b"-")
            run.clear()

    for ch in name:
        if _is_direct(ch):
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            run.append(ch)
    flush()
    return bytes(out)


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


def decode(data: bytes) -> str:
    """The mailbox name that ``data`` encodes; MUTF7Error when it is not modified UTF-7."""
    out: list[str] = []
    i = 0
    length = len(data)
    while i < length:
        byte = data[i]
        if byte != 0x26:  # "&"
            if not 0x20 <= byte <= 0x7E:
                raise MUTF7Error(f"octet 0x{byte:02x} must be encoded")
            out.append(chr(byte))
            i += 1
            continue
        end = data.find(b"-", i + 1)
        if end < 0:
            raise MUTF7Error('"&" without a closing "-"')
        chunk = data[i + 1 : end]
        i = end + 1
        if not chunk:
            out.append("&")
            continue
        out.append(_decode_run(chunk))
    return "".join(out)


def _decode_run(chunk: bytes) -> str:
    if any(b not in _B64_ALPHABET for b in chunk):
        raise MUTF7Error("invalid character in a base64 run")
    if len(chunk) % 4 == 1:
        raise MUTF7Error("truncated base64 run")
    padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except binascii.Error as exc:
        raise MUTF7Error("invalid base64 run") from exc
    if not raw or len(raw) % 2:
        raise MUTF7Error("a base64 run must hold whole UTF-16 units")
    try:
        text = raw.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise MUTF7Error("unpaired UTF-16 surrogate") from exc
    if any(_is_direct(ch) for ch in text):
        raise MUTF7Error("printable ASCII must not be base64-encoded")
    # Non-canonical: leftover bits must be zero, so that one name has one spelling.
    if encode(text) != b"&" + chunk + b"-":
        raise MUTF7Error("non-canonical base64 run")
    return text
