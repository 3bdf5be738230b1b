"""Responses encode to valid syntax: checked against the RFC examples and re-parsed by
imapclient's response parser (a third-party reading of the grammar)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response, parse_response

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.encoder import (
    encode,
    encode_astring,
    encode_chunks,
    encode_mailbox,
    encode_string,
    literal_header,
)
from mailkeep.protocol.imap.fetch import FetchBinarySize, FetchBody, Section, SectionText
from mailkeep.protocol.imap.responses import Code, Continuation, Data, Status, StatusResponse
from mailkeep.protocol.imap.values import Atom, Joined, Literal, Raw, Stream

from .drive import imaplib_lines


@pytest.mark.parametrize(
    ("response", "wire"),
    [
        (r.ok("LOGIN completed").tagged("a001"), b"a001 OK LOGIN completed\r\n"),
        (
            r.ok("UIDs valid", Code("UIDVALIDITY", (3857529045,))),
            b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
        ),
        (
            r.ok(
                "Limited",
                Code("PERMANENTFLAGS", ([Atom("\\Deleted"), Atom("\\Seen"), Atom("\\*")],)),
            ),
            b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
        ),
        (
            r.ok("APPEND completed", Code("APPENDUID", (38505, Atom("3955")))).tagged("A003"),
            b"A003 OK [APPENDUID 38505 3955] APPEND completed\r\n",  # RFC 4315 3
        ),
        (
            r.NO_BADCHARSET.tagged("t"),
            b't NO [BADCHARSET ("UTF-8" "US-ASCII")] unsupported charset\r\n',
        ),
        (Data((22, Atom("EXPUNGE"))), b"* 22 EXPUNGE\r\n"),
        (
            Data((Atom("FLAGS"), [Atom("\\Answered"), Atom("\\Flagged"), Atom("$Junk")])),
            b"* FLAGS (\\Answered \\Flagged $Junk)\r\n",
        ),
        (
            Data((Atom("LIST"), [Atom("\\Noselect")], "/", "~/Mail/foo")),
            b'* LIST (\\Noselect) "/" "~/Mail/foo"\r\n',
        ),
        (Data((Atom("SEARCH"), 2, 84, 882)), b"* SEARCH 2 84 882\r\n"),
        (
            Data((Atom("THREAD"), Joined(([2], [3, 6, Joined(([4, 23], [44, 7, 96]))])))),
            b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n",  # RFC 5256 4
        ),
        (
            Data((Atom("STATUS"), "blurdybloop", [Atom("MESSAGES"), 231, Atom("UIDNEXT"), 44292])),
            b'* STATUS "blurdybloop" (MESSAGES 231 UIDNEXT 44292)\r\n',
        ),
        (Continuation(), b"+ ready\r\n"),
        (Continuation(data=b"\x00\x01"), b"+ AAE=\r\n"),
        (Continuation(data=b""), b"+ \r\n"),
        (r.BYE_LOGOUT, b"* BYE logging out\r\n"),
        (StatusResponse(Status.PREAUTH, "welcome"), b"* PREAUTH welcome\r\n"),
    ],
)
def test_rfc_shapes(response: r.Response, wire: bytes) -> None:
    assert encode(response) == wire


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("plain", b'"plain"'),
        ("NIL", b'"NIL"'),
        ('a"b\\c', b'"a\\"b\\\\c"'),
        ("two\r\nlines", b"{10}\r\ntwo\r\nlines"),
        ("ü", b"{2}\r\n\xc3\xbc"),
        (b"\xff", b"{1}\r\n\xff"),
        ("x" * 1025, b"{1025}\r\n" + b"x" * 1025),
        ("", b'""'),
    ],
)
def test_strings_choose_their_form(value: str | bytes, wire: bytes) -> None:
    assert encode_string(value) == wire


def test_utf8_sessions_quote_utf8() -> None:
    assert encode_string("ü", utf8=True) == b'"\xc3\xbc"'
    assert encode_string(b"\xff", utf8=True) == b"{1}\r\n\xff"  # not UTF-8: a literal


def test_astrings_and_mailboxes() -> None:
    assert encode_astring("INBOX") == b"INBOX"
    assert encode_astring("nil") == b'"nil"'
    assert encode_astring("a b") == b'"a b"'
    assert encode_astring("a]") == b"a]"
    assert encode_mailbox("台北") == b'"&U,BTFw-"'
    assert encode_mailbox("台北", utf8=True) == '"台北"'.encode()


def test_text_is_cleaned() -> None:
    assert encode(r.ok("a\r\nb").tagged("t")) == b"t OK a  b\r\n"
    assert encode(r.ok("")) == b"* OK done\r\n"
    assert encode(r.ok("[not a code")) == b"* OK not a code\r\n"
    assert encode(r.no("crème")) == b"* NO cr?me\r\n"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Atom("two words"),
        lambda: Atom(""),
        lambda: encode(r.ok("x").tagged("+a")),
        lambda: encode(r.ok("x").tagged("a b")),
        lambda: encode(Data((-1,))),
        lambda: encode(Data((True,))),
        lambda: encode(r.ok("x", Code("A]B"))),
        lambda: encode(Data((Stream(3, "f"),))),
    ],
)
def test_invalid_values_are_our_bugs(bad: object) -> None:
    with pytest.raises(LocalProtocolError):
        bad()  # type: ignore[operator]


def test_streamed_literal() -> None:
    item = FetchBody(Section(), peek=True)
    chunks = encode_chunks(
        Data((7, Atom("FETCH"), [Atom("UID"), 9, Raw(item.response_name()), Stream(5, "msg")]))
    )
    assert chunks == [b"* 7 FETCH (UID 9 BODY[] {5}\r\n", Stream(5, "msg"), b")\r\n"]
    assert literal_header(3, binary=True) == b"~{3}\r\n"
    wire = b"".join(c if isinstance(c, bytes) else b"hello" for c in chunks)
    lines = imaplib_lines(wire.replace(b"* 7 FETCH ", b"7 ", 1))  # as imaplib returns it
    parsed = parse_fetch_response(lines)
    assert parsed[9][b"BODY[]"] == b"hello"


def test_response_names_reparse() -> None:
    items = [
        FetchBody(Section((1, 2), SectionText.HEADER_FIELDS, ("From", "X-A b")), partial=(0, 9)),
        FetchBody(Section((3,), SectionText.MIME)),
        FetchBody(Section(), binary=True, partial=(5, 5)),
        FetchBinarySize((1,)),
    ]
    names = [i.response_name() for i in items]
    assert names == [
        b'BODY[1.2.HEADER.FIELDS (From "X-A b")]<0>',
        b"BODY[3.MIME]",
        b"BINARY[]<5>",
        b"BINARY.SIZE[1]",
    ]


# A recursive strategy over the Value types the encoder accepts.
_leaves = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.text(max_size=30),
    st.binary(max_size=30),
    st.from_regex(r"\A[A-Za-z$][A-Za-z0-9.$]{0,10}\Z").map(Atom),
    st.binary(max_size=30).map(Literal),
)
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=5), max_leaves=25)


def _normalise(value: object) -> object:
    """What imapclient should read back for a value we encoded."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    if isinstance(value, Atom):
        return value.text.encode("ascii")
    if isinstance(value, Literal):
        return value.data
    assert isinstance(value, list)
    return tuple(_normalise(v) for v in value)


@given(st.lists(_values, min_size=1, max_size=6))
def test_imapclient_reads_back_what_we_encode(values: list[object]) -> None:
    wire = encode(Data((Atom("X"), *values)))  # type: ignore[arg-type]
    parsed = parse_response(imaplib_lines(wire))
    assert parsed[:2] == (b"*", b"X")
    expected = [_normalise(v) for v in values]
    # imapclient turns all-digit atoms/strings into ints and b"NIL" atoms into None
    for got, want in zip(parsed[2:], expected, strict=True):
        assert _loosely_equal(got, want), (got, want, wire)


def _loosely_equal(got: object, want: object) -> bool:
    if isinstance(want, tuple):
        return (
            isinstance(got, tuple)
            and len(got) == len(want)
            and all(_loosely_equal(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(got, int) and isinstance(want, bytes) and want.isdigit():
        return got == int(want)
    return got == want
