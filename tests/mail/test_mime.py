"""The MIME structure scanner on hand-made messages: offsets, numbering, defaults, damage."""

from __future__ import annotations

import pytest

from mailkeep.mail.mime import MessageInfo, Part, find_part, parse_message


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def body_of(raw: bytes, part: Part) -> bytes:
    return raw[part.body_start : part.body_end]


def header_of(raw: bytes, part: Part) -> bytes:
    return raw[part.header_start : part.body_start]


def part(info: MessageInfo, *section: int) -> Part:
    found = find_part(info, section)
    assert found is not None, section
    return found


SIMPLE = crlf("Subject: hi\nFrom: a@b.example\n\nline one\nline two\n")

MIXED = crlf(
    "Content-Type: multipart/mixed; boundary=XX\n"
    "\n"
    "preamble\n"
    "--XX\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "first\n"
    "--XX \t\n"  # RFC 2046 5.1.1: transport padding after the boundary
    "\n"
    "second, no header\n"
    "\n"
    "--XX--\n"
    "epilogue\n"
)


def test_single_part_message() -> None:
    info = parse_message(SIMPLE)
    assert info.size == len(SIMPLE)
    assert info.header_size == len(crlf("Subject: hi\nFrom: a@b.example\n\n"))
    assert info.lines == 5
    root = info.body
    assert (root.type, root.subtype) == ("text", "plain")
    assert root.params.raw == ((b"charset", b"us-ascii"),)  # RFC 2045 5.2 default
    assert body_of(SIMPLE, root) == b"line one\r\nline two\r\n"
    assert root.lines == 2
    assert root.size == 20
    # RFC 3501 6.4.5: a non-multipart message has only part 1, which is its body.
    assert find_part(info, (1,)) is root
    assert find_part(info, ()) is root
    assert find_part(info, (2,)) is None
    assert find_part(info, (1, 1)) is None
    assert find_part(info, (0,)) is None


def test_multipart_offsets_padding_preamble_and_epilogue() -> None:
    info = parse_message(MIXED)
    root = info.body
    assert len(root.children) == 2
    first, second = root.children
    assert header_of(MIXED, first) == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert body_of(MIXED, first) == b"first"  # the CRLF before "--XX" is the boundary's
    assert first.lines == 1
    assert first.params.get("charset") == "utf-8"
    assert header_of(MIXED, second) == b"\r\n"
    assert body_of(MIXED, second) == b"second, no header\r\n"
    assert (second.type, second.subtype) == ("text", "plain")
    assert body_of(MIXED, root).endswith(b"epilogue\r\n")
    assert root.body_end == len(MIXED)
    assert part(info, 2) is second


@pytest.mark.parametrize("ending", ["\n", "\r"])
def test_bare_lf_and_bare_cr_line_endings(ending: str) -> None:
    raw = MIXED.replace(b"\r\n", ending.encode())
    info = parse_message(raw)
    first, second = info.body.children
    assert body_of(raw, first) == b"first"
    assert body_of(raw, second) == f"second, no header{ending}".encode()
    assert info.header_size == raw.index(f"{ending}{ending}".encode()) + 2


def test_no_header_body_separator() -> None:
    raw = b"Subject: only a header\r\nFrom: x@y.example"
    info = parse_message(raw)
    assert info.header_size == len(raw)
    assert info.body.size == 0
    assert info.envelope.subject == b"only a header"


def test_message_starting_with_blank_line_has_empty_header() -> None:
    raw = b"\r\nSubject: in the body\r\n"
    info = parse_message(raw)
    assert info.header_size == 2
    assert info.envelope.subject is None


def test_missing_final_boundary_ends_at_end_of_message() -> None:
    raw = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n")
    info = parse_message(raw)
    assert [body_of(raw, c) for c in info.body.children] == [b"one", b"two\r\n"]


def test_delimiter_without_preamble() -> None:
    raw = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n")
    info = parse_message(raw)
    (only,) = info.body.children
    assert only.header_start == info.header_size + len(b"--b\r\n")
    assert body_of(raw, only) == b"one"


def test_boundary_prefix_and_lookalike_lines_are_content() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=abc\n\n"
        "--abc\n\n--abcd\n-- abc\n--ab\n --abc\n--abc--x\n--abc--\n"
    )
    (only,) = parse_message(raw).body.children
    assert body_of(raw, only) == crlf("--abcd\n-- abc\n--ab\n --abc\n--abc--x")


def test_inner_part_closed_by_outer_boundary() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=outer\n\n"
        "--outer\n"
        "Content-Type: multipart/alternative; boundary=inner\n\n"
        "--inner\n\nin one\n"
        "--outer\n\nafter\n"
        "--outer--\n"
    )
    info = parse_message(raw)
    inner, after = info.body.children
    assert [body_of(raw, c) for c in inner.children] == [b"in one"]
    assert body_of(raw, after) == b"after"
    assert part(info, 1, 1).body_end == inner.body_end


def test_same_boundary_nested_binds_to_the_innermost() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=x\n\n"
        "--x\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\ndeep\n--x--\n"
        "--x--\n"
    )
    info = parse_message(raw)
    (inner,) = info.body.children
    assert [body_of(raw, c) for c in inner.children] == [b"deep"]


def test_multipart_without_boundary_is_text_plain() -> None:
    raw = crlf("Content-Type: multipart/mixed\n\n--x\n\nhello\n")
    info = parse_message(raw)
    assert (info.body.type, info.body.subtype) == ("text", "plain")
    assert info.body.children == ()


def test_multipart_without_delimiters_gets_one_empty_part() -> None:
    raw = crlf("Content-Type: multipart/mixed; boundary=nope\n\njust text\n")
    info = parse_message(raw)
    (empty,) = info.body.children
    assert (empty.type, empty.subtype, empty.size) == ("text", "plain", 0)
    assert part(info, 1) is empty


def test_digest_parts_default_to_message_rfc822() -> None:
    raw = crlf(
        "Content-Type: multipart/digest; boundary=d\n\n"
        "--d\n\nSubject: inner one\n\nbody one\n"
        "--d\nContent-Type: text/plain\n\nnot a message\n"
        "--d--\n"
    )
    info = parse_message(raw)
    first, second = info.body.children
    assert (first.type, first.subtype) == ("message", "rfc822")
    assert first.message is not None
    assert first.message.envelope.subject == b"inner one"
    assert body_of(raw, first.message.body) == b"body one"
    assert (second.type, second.subtype) == ("text", "plain")
    assert part(info, 1, 1) is first.message.body


def test_embedded_message_numbering_and_offsets() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=o\n\n"
        "--o\nContent-Type: message/rfc822\n\n"
        "Subject: inside\nContent-Type: multipart/alternative; boundary=i\n\n"
        "--i\n\nplain\n--i\nContent-Type: text/html\n\n<p>html</p>\n--i--\n"
        "--o--\n"
    )
    info = parse_message(raw)
    wrapper = part(info, 1)
    assert wrapper.message is not None
    inner = wrapper.message.body
    assert inner.header_start == wrapper.body_start
    assert body_of(raw, wrapper).startswith(b"Subject: inside")
    assert wrapper.lines == raw[wrapper.body_start : wrapper.body_end].count(b"\n") + 1
    assert body_of(raw, part(info, 1, 1)) == b"plain"
    assert body_of(raw, part(info, 1, 2)) == b"<p>html</p>"
    assert find_part(info, (1, 3)) is None


def test_embedded_single_part_message_is_its_part_one() -> None:
    raw = crlf("Content-Type: message/rfc822\n\nSubject: s\n\ninner body\n")
    info = parse_message(raw)
    assert part(info, 1) is info.body
    assert info.body.message is not None
    assert part(info, 1, 1) is info.body.message.body
    assert find_part(info, (1, 2)) is None


def test_encoded_message_rfc822_is_a_leaf() -> None:
    # RFC 2046 5.2.1: only 7bit, 8bit or binary; an encoded one is not parsed inside.
    raw = crlf(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n"
    )
    info = parse_message(raw)
    assert info.body.message is None
    assert (info.body.type, info.body.subtype) == ("application", "octet-stream")
    assert info.body.encoding == "base64"


def test_mime_fields_and_rfc2231_parameters() -> None:
    raw = crlf(
        'Content-Type: Application/X-Stuff; name="a \\"q\\" b"; charset=UTF-8\n'
        "Content-Transfer-Encoding: Base64 (comment)\n"
        "Content-Disposition: ATTACHMENT;\n"
        " filename*0*=utf-8'en'%E2%82%AC%20rate;\n"
        ' filename*1=" list.txt"\n'
        "Content-ID: <id@x>\n"
        "Content-Description: =?utf-8?q?caf=C3=A9?=\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "Content-Language: en, de\n"
        "Content-Location: http://example.org/x\n"
        "\n"
        "AAAA\n"
    )
    body = parse_message(raw).body
    assert (body.type, body.subtype) == ("application", "x-stuff")
    assert body.params.raw == ((b"name", b'a "q" b'), (b"charset", b"UTF-8"))
    assert body.encoding == "base64"
    assert body.disposition == "attachment"
    assert body.disposition_params.raw == (
        (b"filename*0*", b"utf-8'en'%E2%82%AC%20rate"),
        (b"filename*1", b" list.txt"),
    )
    assert body.disposition_params.get("FILENAME") == "€ rate list.txt"
    assert body.content_id == b"<id@x>"
    assert body.description == b"=?utf-8?q?caf=C3=A9?="
    assert body.md5 == b"Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert body.language == (b"en", b"de")
    assert body.location == b"http://example.org/x"


def test_invalid_content_type_falls_back_to_text_plain() -> None:
    for value in ("text", "/plain", "text/", "a b/c", "", "text/plain/x"):
        body = parse_message(crlf(f"Content-Type: {value}\n\nx\n")).body
        assert (body.type, body.subtype) == ("text", "plain"), value
        assert body.params.get("charset") == "us-ascii"


def test_line_count_counts_a_final_unterminated_line() -> None:
    assert parse_message(b"\r\na\r\nb").body.lines == 2
    assert parse_message(b"\r\na\r\nb\r\n").body.lines == 2
    assert parse_message(b"\r\n").body.lines == 0


def _depth(part: Part) -> int:
    below = [_depth(c) for c in part.children]
    if part.message is not None:
        below.append(_depth(part.message.body))
    return 1 + max(below, default=0)


def test_deep_nesting_is_capped_and_the_rest_is_opaque() -> None:
    levels = 3000
    raw = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(levels)
    )
    raw += b"\r\nleaf\r\n"
    info = parse_message(raw, max_depth=50)
    assert _depth(info.body) <= 52
    deepest = info.body
    while deepest.children:
        deepest = deepest.children[0]
    assert deepest.body_end == len(raw)
    # The capped multipart is an opaque leaf, so BODYSTRUCTURE stays well-formed.
    assert (deepest.type, deepest.subtype) == ("application", "octet-stream")


def test_deep_message_rfc822_nesting_is_capped() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 5000 + b"Subject: x\r\n\r\nend\r\n"
    info = parse_message(raw)
    assert _depth(info.body) <= 102
    innermost = info.body
    while innermost.message is not None:
        innermost = innermost.message.body
    assert (innermost.type, innermost.subtype) == ("application", "octet-stream")


def test_huge_depth_argument_is_still_bounded() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 2000
    info = parse_message(raw, max_depth=10**9)
    assert _depth(info.body) <= 202


def test_part_count_is_capped() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 500
    info = parse_message(raw, max_parts=100)
    assert sum(1 for _ in info.body.walk()) <= 100
    assert len(info.body.children) == 99


def test_info_round_trips_through_bytes() -> None:
    info = parse_message(MIXED)
    data = info.to_bytes()
    assert MessageInfo.from_bytes(data) == info
    assert len(data) < 1000


def test_info_with_8bit_headers_round_trips() -> None:
    raw = "Subject: caf\u00e9 \udcff\r\nFrom: Jos\u00e9 <j@x.example>\r\n\r\n".encode(
        "utf-8", "surrogateescape"
    )
    info = parse_message(raw)
    assert info.envelope.subject == "café \udcff".encode("utf-8", "surrogateescape")
    assert MessageInfo.from_bytes(info.to_bytes()) == info


@pytest.mark.parametrize(
    "data", [b"", b"{}", b"[1]", b"\xff", b"[99,0,0,0,[],[],[]]", b"[1,0,0,0,1,2,3]"]
)
def test_from_bytes_rejects_foreign_data(data: bytes) -> None:
    with pytest.raises(ValueError):
        MessageInfo.from_bytes(data)


def test_sizes_and_line_counts_as_imap_reports_them() -> None:
    raw = crlf(
        "From: a@example.org\n"
        'Content-Type: multipart/mixed; boundary="x y"\n'
        "\n"
        "--x y\n"
        "Content-Type: text/plain\n"
        "\n"
        "Look below.\n"
        "\n"
        "--x y\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner\n"
        "\n"
        "text\n"
        "\n"
        "--x y--\n"
    )
    info = parse_message(raw)
    text, wrapper = info.body.children
    assert (text.size, text.lines) == (13, 1)  # "Look below.\r\n"
    assert (wrapper.size, wrapper.lines) == (24, 3)  # "Subject: inner\r\n\r\ntext\r\n"
    assert wrapper.message is not None
    inner = wrapper.message.body
    assert (inner.size, inner.lines) == (6, 1)  # "text\r\n"
    assert raw[inner.header_start : inner.body_start] == b"Subject: inner\r\n\r\n"


def test_boundary_given_in_rfc2231_form() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary*=us-ascii''a%20b\n\n--a b\n\ninside\n--a b--\n"
    )
    (only,) = parse_message(raw).body.children
    assert body_of(raw, only) == b"inside"


def test_boundary_is_matched_as_written_not_decoded() -> None:
    raw = crlf(
        'Content-Type: multipart/mixed; boundary="=?utf-8?q?x?="\n\n'
        "--=?utf-8?q?x?=\n\ninside\n--=?utf-8?q?x?=--\n"
    )
    (only,) = parse_message(raw).body.children
    assert body_of(raw, only) == b"inside"
