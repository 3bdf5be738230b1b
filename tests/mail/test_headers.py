"""Header fields on bytes: splitting with offsets, lookups, IMAP HEADER.FIELDS[.NOT]."""

from __future__ import annotations

from mailkeep.mail.headers import (
    HeaderMap,
    get_all_headers,
    get_header,
    iter_fields,
    select_header_fields,
    unfold,
)

HEADER = (
    b"Received: from a\r\n"
    b"\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"Subject: Hello\r\n"
    b"  world\r\n"
    b"received: from c\r\n"
    b"X-Empty:\r\n"
    b"To : someone@example.org\r\n"
    b"\r\n"
)


def test_fields_keep_offsets_folding_and_line_endings() -> None:
    fields = list(iter_fields(HEADER))
    assert [f.name for f in fields] == [b"Received", b"Subject", b"received", b"X-Empty", b"To"]
    assert b"".join(HEADER[f.start : f.end] for f in fields) + b"\r\n" == HEADER
    subject = fields[1]
    assert HEADER[subject.start : subject.end] == b"Subject: Hello\r\n  world\r\n"
    assert HEADER[subject.value_start : subject.end] == b" Hello\r\n  world\r\n"


def test_fields_stop_at_the_blank_line_and_within_bounds() -> None:
    data = b"A: 1\nB: 2\n\nC: 3\n"
    assert [f.name for f in iter_fields(data)] == [b"A", b"B"]
    assert [f.name for f in iter_fields(data, 5, 10)] == [b"B"]


def test_line_without_colon_is_a_nameless_field() -> None:
    fields = list(iter_fields(b"A: 1\r\njunk line\r\nB: 2\r\n"))
    assert [f.name for f in fields] == [b"A", b"", b"B"]


def test_get_header_is_case_insensitive_unfolded_and_first() -> None:
    assert get_header(HEADER, "subject") == b"Hello  world"
    assert get_header(HEADER, b"RECEIVED") == b"from a\tby b; Mon, 1 Jan 2024 00:00:00 +0000"
    assert get_header(HEADER, "x-empty") == b""
    assert get_header(HEADER, "to") == b"someone@example.org"  # RFC 5322 4.5 "To :"
    assert get_header(HEADER, "cc") is None
    assert get_all_headers(HEADER, "received") == [
        b"from a\tby b; Mon, 1 Jan 2024 00:00:00 +0000",
        b"from c",
    ]


def test_get_header_ignores_the_body_and_continuations() -> None:
    message = b"Subject: a\r\n X-Fake: no\r\n\r\nX-Fake: body\r\n"
    assert get_header(message, "x-fake") is None
    assert get_header(message, "subject") == b"a X-Fake: no"


def test_get_header_with_bare_lf_and_bare_cr() -> None:
    assert get_header(b"A: 1\nB: 2\n\n", "b") == b"2"
    assert get_header(b"A: 1\rB: 2\r\r", "b") == b"2"


def test_header_map_matches_get_header() -> None:
    headers = HeaderMap(HEADER)
    assert headers.get(b"subject") == get_header(HEADER, "subject")
    assert headers.get_all(b"received") == get_all_headers(HEADER, "received")
    assert headers.get(b"missing") is None


def test_unfold() -> None:
    assert unfold(b" a\r\n\tb\n c ") == b"a\tb c"


def test_select_header_fields_keeps_order_bytes_and_blank_line() -> None:
    selected = select_header_fields(HEADER, [b"RECEIVED", "to"])
    assert selected == (
        b"Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"received: from c\r\n"
        b"To : someone@example.org\r\n"
        b"\r\n"
    )


def test_select_header_fields_not() -> None:
    selected = select_header_fields(HEADER, ["received", "x-empty", "to"], exclude=True)
    assert selected == b"Subject: Hello\r\n  world\r\n\r\n"


def test_select_header_fields_nothing_matches() -> None:
    assert select_header_fields(HEADER, ["cc"]) == b"\r\n"


def test_select_header_fields_keeps_the_blank_line_style_and_completes_a_cut_header() -> None:
    assert select_header_fields(b"A: 1\nB: 2\n\n", ["a"]) == b"A: 1\n\n"
    # A header cut short by the end of the message still yields whole lines.
    assert select_header_fields(b"A: 1\r\nB: 2", ["b"]) == b"B: 2\r\n\r\n"


def test_select_header_fields_not_keeps_nameless_lines() -> None:
    header = b"A: 1\r\njunk\r\nB: 2\r\n\r\n"
    assert select_header_fields(header, ["a"], exclude=True) == b"junk\r\nB: 2\r\n\r\n"
    assert select_header_fields(header, ["junk"]) == b"\r\n"


def test_names_from_clients_never_raise() -> None:
    header = "X-Ü: 8-bit name\r\nA: 1\r\n\r\n".encode()
    assert get_header(header, "x-ü") is None  # only ASCII letters fold case
    assert get_header(header, "X-Ü") == b"8-bit name"
    assert get_header(header, "\udcff") is None
    assert select_header_fields(header, ["X-Ü", "(", "a*"]) == "X-Ü: 8-bit name\r\n\r\n".encode()
