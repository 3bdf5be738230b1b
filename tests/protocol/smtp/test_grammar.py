"""Paths, parameters and xtext (RFC 5321 4.1.2, RFC 3461 4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailkeep.protocol.smtp.errors import CommandError
from mailkeep.protocol.smtp.grammar import (
    Verb,
    decode_xtext,
    encode_xtext,
    parse_command,
    parse_forward_path,
    parse_parameters,
    parse_reverse_path,
)


def test_verbs_are_case_insensitive_and_arguments_decoded() -> None:
    command = parse_command(b"mail FROM:<\xc3\xbc@b.example>")
    assert command.verb is Verb.MAIL and command.argument == "FROM:<ü@b.example>"


@pytest.mark.parametrize(
    ("argument", "mailbox"),
    [
        ("FROM:<>", ""),
        ("from: <a@b.example>", "a@b.example"),
        ("FROM:<@x.example:a@b.example>", "a@b.example"),
        ("FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]"),
        ("FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]"),
        ('FROM:<"a b"@b.example>', '"a b"@b.example'),
        ('FROM:<"a\\"b"@b.example>', '"a\\"b"@b.example'),
        ("FROM:<a%c@b.example>", "a%c@b.example"),
    ],
)
def test_reverse_paths(argument: str, mailbox: str) -> None:
    address = parse_reverse_path(argument).address
    assert (address.text if address else "") == mailbox


@pytest.mark.parametrize(
    "argument",
    [
        "FROM:a@b.example",
        "FROM:<a@b.example",
        "FROM:<a b@b.example>",
        "FROM:<@x.example,a@b.example>",
        "FROM:<@:a@b.example>",
        "FROM:<a@>",
        "FROM:<@b.example>",
        "FROM:<a@b..example>",
        'FROM:<"unterminated@b.example>',
        "FROM:<" + "a" * 60 + "@" + "b" * 250 + ".example>",
        "TO:<a@b.example>",
    ],
)
def test_bad_reverse_paths(argument: str) -> None:
    with pytest.raises(CommandError):
        parse_reverse_path(argument)


def test_forward_path_postmaster_and_parameters() -> None:
    path = parse_forward_path("TO:<POSTMASTER> NOTIFY=NEVER", "mx.example.org")
    assert path.address is not None and path.address.text == "postmaster@mx.example.org"
    assert path.words == ("NOTIFY=NEVER",)
    assert not parse_forward_path("TO:<ü@b.example>", "mx.example.org").ascii
    assert parse_parameters(["size=10", "SMTPUTF8"]) == {"SIZE": "10", "SMTPUTF8": None}
    repeated = ["SMTPUTF8", "smtputf8", "BODY=8BITMIME", "body=8bitmime"]
    assert parse_parameters(repeated) == {"SMTPUTF8": None, "BODY": "8bitmime"}
    for bad in (["=1"], ["A=B=C"], ["SIZE="], ["-X"], ["SIZE=1", "SIZE=2"], ["RET", "RET=FULL"]):
        with pytest.raises(CommandError):
            parse_parameters(bad)


@given(st.text(max_size=40))
def test_xtext_round_trip(text: str) -> None:
    encoded = encode_xtext(text)
    assert encoded.isascii() and " " not in encoded and "=" not in encoded
    assert decode_xtext(encoded) == text


def test_xtext() -> None:
    assert decode_xtext("a+2Bb+3Dc") == "a+b=c"
    for bad in ("a+2b", "a+", "a=b", "a b", "+C3"):
        with pytest.raises(CommandError):
            decode_xtext(bad)


@given(
    st.one_of(
        st.binary(max_size=120),
        st.binary(max_size=80).map(lambda b: b"MAIL FROM:<" + b),
        st.text(max_size=60).map(lambda t: ("RCPT TO:<" + t).encode()),
    )
)
def test_parse_command_never_raises_anything_else(line: bytes) -> None:
    try:
        command = parse_command(line)
        if command.verb in (Verb.MAIL, Verb.RCPT):
            path = (
                parse_reverse_path(command.argument)
                if command.verb is Verb.MAIL
                else parse_forward_path(command.argument, "mx.example.org")
            )
            parse_parameters(path.words)
            text = path.address.text if path.address else ""
            assert "\r" not in text and "\n" not in text and "\x00" not in text
    except CommandError as error:
        assert error.reply.code >= 400
