"""Transfer decoding for BINARY, full-text index text and the RFC 8970 preview."""

from __future__ import annotations

import base64
import encodings.aliases

import pytest

from mailkeep.mail.bodytext import (
    PREVIEW_OCTETS,
    UnknownTransferEncoding,
    decode_base64,
    decode_part_body,
    decode_quoted_printable,
    preview,
    text_for_index,
)
from mailkeep.mail.charset import decode_header_value, decode_text
from mailkeep.mail.mime import parse_message


def single(cte: str, body: bytes, ctype: str = "text/plain; charset=utf-8") -> bytes:
    return f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode() + body


@pytest.mark.parametrize(
    ("cte", "body", "decoded"),
    [
        ("7bit", b"plain\r\n", b"plain\r\n"),
        ("8BIT", b"caf\xc3\xa9", b"caf\xc3\xa9"),
        ("binary", b"\x00\x01", b"\x00\x01"),
        ("base64", b"aGVs\r\nbG8=\r\n", b"hello"),
        ("quoted-printable", b"caf=C3=A9 =\r\nau lait=3D\r\n", b"caf\xc3\xa9 au lait=\r\n"),
    ],
)
def test_decode_part_body(cte: str, body: bytes, decoded: bytes) -> None:
    raw = single(cte, body)
    assert decode_part_body(raw, parse_message(raw).body) == decoded


def test_unknown_encoding_raises_distinctly() -> None:
    raw = single("x-uuencode", b"begin 644 x\r\n")
    with pytest.raises(UnknownTransferEncoding) as caught:
        decode_part_body(raw, parse_message(raw).body)
    assert caught.value.encoding == "x-uuencode"


def test_base64_is_lenient() -> None:
    data = base64.b64encode(b"some binary \x00\xff data")
    assert decode_base64(data[:10] + b" !*\r\n" + data[10:]) == b"some binary \x00\xff data"
    assert decode_base64(b"aGVsbG8") == b"hello"  # missing padding
    assert decode_base64(b"aGVsbG8=garbage after padding") == b"hello"
    assert decode_base64(b"a") == b""
    assert decode_base64(b"") == b""


def test_quoted_printable_soft_breaks_and_bad_escapes() -> None:
    assert decode_quoted_printable(b"a=\nb=  \r\nc") == b"abc"
    assert decode_quoted_printable(b"=ZZ=4") == b"=ZZ=4"


def test_text_for_index_covers_headers_text_and_html_not_binary() -> None:
    raw = (
        b"Subject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\n"
        b"From: Ann <ann@x.example>\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nna=EFve text\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n"
        b"<html><head><title>hidden</title></head><body><p>Tom &amp; Jerry</p>"
        b"<script>var x = 1;</script></body></html>\r\n"
        b"--b\r\nContent-Type: application/octet-stream; name=report.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nc2VjcmV0\r\n"
        b"--b--\r\n"
    )
    text = text_for_index(raw, parse_message(raw))
    assert "Résumé" in text
    assert "Ann ann@x.example" in text
    assert "naïve text" in text
    assert "Tom & Jerry" in text
    assert "report.pdf" in text
    for absent in ("hidden", "var x", "secret", "<p>"):
        assert absent not in text


def test_text_for_index_prefers_plain_in_alternative_and_is_bounded() -> None:
    raw = (
        b"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"word " * 10000 + b"\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<b>html twin</b>\r\n--b--\r\n"
    )
    info = parse_message(raw)
    assert "html twin" not in text_for_index(raw, info)
    assert len(text_for_index(raw, info, limit=1000)) <= 1000


def test_text_in_embedded_messages_is_indexed() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nnested words\r\n"
    assert "nested words" in text_for_index(raw, parse_message(raw))


def test_preview_collapses_white_space() -> None:
    raw = b"Subject: x\r\n\r\n\r\n  Hello,\r\n\r\n\tthis   is\r\na preview.\r\n"
    assert preview(raw, parse_message(raw)) == "Hello, this is a preview."


def test_preview_uses_html_when_it_is_the_only_text() -> None:
    raw = single("7bit", b"<div>Hi <b>there</b></div>", "text/html")
    assert preview(raw, parse_message(raw)) == "Hi there"


def test_preview_is_at_most_200_characters_and_256_octets() -> None:
    raw = single("8bit", ("é" * 300).encode())
    text = preview(raw, parse_message(raw))
    assert len(text.encode()) <= PREVIEW_OCTETS
    assert text == "é" * 128
    raw = single("7bit", b"a" * 1000)
    assert preview(raw, parse_message(raw)) == "a" * 200


def test_preview_empty_without_text() -> None:
    raw = single("base64", b"AAAA", "image/png")
    assert preview(raw, parse_message(raw)) == ""


def test_preview_skips_attachments() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nfile\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nthe text\r\n--b--\r\n"
    )
    assert preview(raw, parse_message(raw)) == "the text"


def test_unknown_charset_falls_back() -> None:
    raw = single("8bit", b"caf\xe9", "text/plain; charset=x-no-such")
    assert preview(raw, parse_message(raw)) == "café"
    raw = single("8bit", b"abc", "text/plain; charset=zlib_codec")
    assert preview(raw, parse_message(raw)) == "abc"


def test_preview_of_html_behind_a_large_style_sheet() -> None:
    style = b"<style>" + b".c{color:red}\r\n" * 2000 + b"</style>"
    raw = single(
        "7bit", b"<html><head>" + style + b"</head><body>Visible</body></html>", "text/html"
    )
    assert preview(raw, parse_message(raw)) == "Visible"


def test_every_codec_name_python_knows_decodes_without_raising() -> None:
    samples = [b"", b"plain", b"\xff\xfe\x00\x80", b"+AGEAYgBj-", b"\\u12", b"\x1b$B", b"\xc3("]
    for name in sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())):
        for data in samples:
            assert isinstance(decode_text(data, name), str), name
            assert isinstance(decode_header_value(b"=?" + name.encode() + b"?b?/+8=?="), str)


@pytest.mark.parametrize("limit", [-10, 0, 1, 7])
def test_text_for_index_limit_is_exact_and_never_negative(limit: int) -> None:
    raw = b"Subject: a subject\r\n\r\nsome body text\r\n"
    text = text_for_index(raw, parse_message(raw), limit=limit)
    assert len(text) == max(limit, 0)
    assert "a subject\nsome body text".startswith(text)
