"""ENVELOPE address lists (RFC 3501 7.4.2, RFC 5322 3.4) and decoded search/sort fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailkeep.mail.envelope import EnvelopeAddress as A
from mailkeep.mail.envelope import parse_address_list
from mailkeep.mail.mime import parse_message

GROUP_END = A(None, None, None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"user@example.org", [A(None, None, b"user", b"example.org")]),
        (b"<user@example.org>", [A(None, None, b"user", b"example.org")]),
        (b"Jo Doe <jo@x.example>", [A(b"Jo Doe", None, b"jo", b"x.example")]),
        (b'"Doe, Jo" <jo@x.example>', [A(b"Doe, Jo", None, b"jo", b"x.example")]),
        (b'"say \\"hi\\"" <a@b>', [A(b'say "hi"', None, b"a", b"b")]),
        (b"John Q. Public <jqp@x.example>", [A(b"John Q. Public", None, b"jqp", b"x.example")]),
        (b"=?utf-8?q?J=C3=B6?= <j@x>", [A(b"=?utf-8?q?J=C3=B6?=", None, b"j", b"x")]),
        (b"jo@x.example (Jo Doe)", [A(b"Jo Doe", None, b"jo", b"x.example")]),
        (b"Jo (the boss) <jo@x>", [A(b"Jo", None, b"jo", b"x")]),
        (b"a@x, b@y,,", [A(None, None, b"a", b"x"), A(None, None, b"b", b"y")]),
        (
            b"Team: a@x, Bee <b@y>;, c@z",
            [
                A(None, None, b"Team", None),
                A(None, None, b"a", b"x"),
                A(b"Bee", None, b"b", b"y"),
                GROUP_END,
                A(None, None, b"c", b"z"),
            ],
        ),
        (b"undisclosed-recipients:;", [A(None, None, b"undisclosed-recipients", None), GROUP_END]),
        (b"Open: a@x", [A(None, None, b"Open", None), A(None, None, b"a", b"x"), GROUP_END]),
        (b"<@r1,@r2:u@h>", [A(None, b"@r1,@r2", b"u", b"h")]),
        (b"nohost", [A(None, None, b"nohost", b"")]),
        (b'"quoted local"@x', [A(None, None, b'"quoted local"', b"x")]),
        (b"u@[192.0.2.1]", [A(None, None, b"u", b"[192.0.2.1]")]),
        (b"", []),
        (b" , ; : <> ", [A(None, None, b"", None), GROUP_END]),
    ],
)
def test_parse_address_list(value: bytes, expected: list[A]) -> None:
    assert list(parse_address_list(value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        b'"unterminated <a@b>',
        b"(unclosed <a@b>",
        b"<a@b",
        b"))((",
        b"a@b>c",
        b"\xff\xfe@\x00",
        b"[x",
    ],
)
def test_parse_address_list_survives_junk(value: bytes) -> None:
    for address in parse_address_list(value):
        assert address.host is None or isinstance(address.host, bytes)


def test_sender_and_reply_to_default_to_from() -> None:
    raw = b"From: a@x\r\nSender:\r\nReply-To: r@y\r\n\r\n"
    env = parse_message(raw).envelope
    assert env.sender == env.from_ == (A(None, None, b"a", b"x"),)
    assert env.reply_to == (A(None, None, b"r", b"y"),)


def test_absent_fields_are_nil() -> None:
    env = parse_message(b"X: y\r\n\r\n").envelope
    assert env.from_ is env.sender is env.to is env.bcc is None
    assert env.date is env.subject is env.message_id is env.in_reply_to is None


def test_search_fields_decode_names_and_pick_first_mailboxes() -> None:
    raw = (
        b"From: =?iso-8859-1?q?Andr=E9?= <andre@x.example>\r\n"
        b"To: Group: =?utf-8?b?w4lsaXNl?= <elise@y.example>, bob@z.example;\r\n"
        b"Cc: carol@w.example\r\n"
        b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
        b"Message-ID: <m1@x>\r\n"
        b"In-Reply-To: <m0@x>\r\n"
        b"References: <a@x>\r\n <b@x> junk <c@x>\r\n"
        b"\r\n"
    )
    search = parse_message(raw).search
    assert search.from_ == (("André", "andre@x.example"),)
    assert search.to == (("Élise", "elise@y.example"), ("", "bob@z.example"))
    assert search.sort_from == "andre"
    assert search.sort_to == "elise"
    assert search.sort_cc == "carol"
    assert search.display_from == "André"
    assert search.display_to == "Élise"
    assert search.sent == datetime(2003, 7, 1, 10, 52, 37, tzinfo=timezone(timedelta(hours=2)))
    assert search.message_id == "<m1@x>"
    assert search.in_reply_to == "<m0@x>"
    assert search.references == ("<a@x>", "<b@x>", "<c@x>")


def test_display_falls_back_to_the_address() -> None:
    search = parse_message(b"From: plain@x.example\r\n\r\n").search
    assert search.display_from == "plain@x.example"
    assert search.display_to == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"1 Jan 2020 00:00:00 -0000", datetime(2020, 1, 1, tzinfo=UTC)),
        (b"Wed, 1 Jan 2020 12:00 GMT", datetime(2020, 1, 1, 12, tzinfo=UTC)),
        (b"not a date", None),
        (b"Mon, 99 Foo 99999 99:99:99 +9999", None),
    ],
)
def test_sent_date_is_lenient_and_aware(value: bytes, expected: datetime | None) -> None:
    sent = parse_message(b"Date: " + value + b"\r\n\r\n").search.sent
    assert sent == expected
    assert sent is None or sent.tzinfo is not None


def test_8bit_header_values_read_as_utf8_then_latin1() -> None:
    raw = "Subject: Grüße\r\nTo: Zoë <z@x>\r\n\r\n".encode()
    assert parse_message(raw).search.subject == "Grüße"
    assert parse_message(b"Subject: Gr\xfc\xdfe\r\n\r\n").search.subject == "Grüße"
