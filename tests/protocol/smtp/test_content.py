"""DATA dot-stuffing, end-of-data at every read boundary, line and size limits; BDAT chunks."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.protocol.smtp.client import dot_stuff
from mailkeep.protocol.smtp.events import NEED_DATA, MessageChunk, MessageComplete
from mailkeep.protocol.smtp.grammar import Body
from mailkeep.protocol.smtp.server import State
from tests.protocol.smtp.session import Session, codes, config


def in_data(**limits: int) -> Session:
    session = Session.start(config(**limits))
    session.say("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA")
    assert session.state is State.DATA
    return session


def in_transaction(mail: str = "MAIL FROM:<a@b.example>", **limits: int) -> Session:
    session = Session.start(config(**limits))
    assert codes(session.say(f"EHLO c.example\r\n{mail}\r\nRCPT TO:<x@y.example>")) == [
        "250",
        "250",
        "250",
    ]
    return session


def test_dot_unstuffing() -> None:
    session = in_data()
    out = session.feed(b"..leading\r\n...two\r\n.\r\n")
    assert out == b"250 2.0.0 Message accepted\r\n"
    assert session.messages == [b".leading\r\n..two\r\n"]


def test_empty_message_and_dot_first_line() -> None:
    session = in_data()
    session.feed(b".\r\n")
    assert session.messages == [b""]


WIRE = b"Subject: x\r\n\r\n..a\r\nb.\r\n.c\r\n\r\n.\r\nQUIT\r\n"


@pytest.mark.parametrize("offset", range(len(WIRE) + 1))
def test_end_of_data_split_at_every_offset(offset: int) -> None:
    session = in_data()
    out = b"".join(session.feed(part) for part in (WIRE[:offset], WIRE[offset:]) if part)
    assert codes(out) == ["250", "221"]
    assert session.messages == [b"Subject: x\r\n\r\n.a\r\nb.\r\nc\r\n\r\n"]


def test_byte_by_byte() -> None:
    session = in_data()
    out = b"".join(session.feed(WIRE[i : i + 1]) for i in range(len(WIRE)))
    assert codes(out) == ["250", "221"]
    assert session.messages == [b"Subject: x\r\n\r\n.a\r\nb.\r\nc\r\n\r\n"]


@settings(max_examples=150, deadline=None)
@given(
    body=st.lists(
        st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
        max_size=12,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=6),
)
def test_client_stuffing_and_server_unstuffing_round_trip(
    body: list[bytes], cuts: list[int]
) -> None:
    content = b"".join(line.replace(b"\x00", b"") + b"\r\n" for line in body)
    wire = dot_stuff(content)
    session = in_data()
    out = b""
    start = 0
    for cut in [*sorted(c for c in cuts if c < len(wire)), len(wire)]:
        if cut > start:
            out += session.feed(wire[start:cut])
        start = cut
    assert codes(out) == ["250"]
    assert session.messages == [content]


def test_long_lines_are_accepted_and_noted() -> None:
    session = in_data()
    session.feed(b"a" * 5000 + b"\r\n.\r\n")
    complete = next(e for e in session.events if isinstance(e, MessageComplete))
    assert complete.long_lines and complete.size == 5002


def test_line_over_the_data_line_limit_refuses_the_message_without_buffering_it() -> None:
    session = in_data(max_data_line=1000)
    for _ in range(100):
        assert session.feed(b"b" * 500) == b""
    assert len(session.conn._buffer) <= 1001
    out = session.feed(b"\r\nnext line\r\n.\r\nNOOP\r\n")
    assert out == b"554 5.6.0 Message rejected: line too long\r\n250 2.0.0 Ok\r\n"


def test_message_over_the_size_limit_is_552_after_the_end() -> None:
    session = in_data(max_message_size=100)
    out = session.feed(b"x" * 60 + b"\r\n")
    out += session.feed(b"y" * 60 + b"\r\n.\r\n")
    assert out == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    spooled = sum(len(e.data) for e in session.events if isinstance(e, MessageChunk))
    assert spooled <= 100 and session.messages == []
    assert session.state is State.READY


def test_a_line_trickled_byte_by_byte_costs_linear_time() -> None:
    # Regression guard: searching the whole buffer again on every byte made a 150 KB line
    # sent one byte at a time cost ~10^10 byte comparisons (~30 s here); linear is ~1 s.
    session = in_data()
    conn = session.conn
    started = time.process_time()
    for _ in range(150_000):
        conn.receive_data(b"a")
        assert conn.next_event() is NEED_DATA
    assert time.process_time() - started < 15
    assert session.feed(b"\r\n.\r\n") == b"250 2.0.0 Message accepted\r\n"
    assert conn.transaction is None


def test_chunks_stream_without_holding_the_message() -> None:
    session = in_data()
    for _ in range(50):
        session.feed(b"z" * 998 + b"\r\n")
        assert len(session.conn._buffer) == 0
    session.feed(b".\r\n")
    assert len(session.messages[0]) == 50 * 1000


def test_bdat_binary_content_with_every_byte_value() -> None:
    session = in_transaction("MAIL FROM:<a@b.example> BODY=BINARYMIME")
    payload = bytes(range(256)) * 4 + b"\r\n.\r\n\n.\n"
    half = len(payload) // 2
    out = session.feed(b"BDAT %d\r\n" % half + payload[:half])
    assert out == b"250 2.0.0 %d octets received\r\n" % half
    assert session.state is State.CHUNKING
    out = session.feed(b"BDAT %d LAST\r\n" % (len(payload) - half) + payload[half:])
    assert out == b"250 2.0.0 Message accepted\r\n"
    assert session.messages == [payload]
    complete = next(e for e in session.events if isinstance(e, MessageComplete))
    assert complete.chunked and complete.size == len(payload)


def test_bdat_zero_last_ends_the_message() -> None:
    session = in_transaction()
    out = session.feed(b"BDAT 4\r\nabcdBDAT 0 LAST\r\n")
    assert codes(out) == ["250", "250"]
    assert session.messages == [b"abcd"]


def test_bdat_split_header_and_chunk_across_reads() -> None:
    session = in_transaction()
    wire = b"BDAT 10 LAST\r\n0123456789NOOP\r\n"
    out = b"".join(session.feed(wire[i : i + 3]) for i in range(0, len(wire), 3))
    assert codes(out) == ["250", "250"]
    assert session.messages == [b"0123456789"]


def test_binarymime_requires_bdat_and_data_bdat_do_not_mix() -> None:
    session = in_transaction("MAIL FROM:<a@b.example> BODY=BINARYMIME")
    assert session.say("DATA").startswith("503 5.5.1 BODY=BINARYMIME")
    session.feed(b"BDAT 1\r\nx")
    assert session.say("DATA").startswith("503 5.5.1 DATA and BDAT")
    assert session.say("RCPT TO:<z@y.example>").startswith("503 5.5.1")
    assert session.say("RSET") == "250 2.0.0 Ok\r\n"
    assert session.state is State.READY
    mail = session.conn.transaction
    assert mail is None and Body.BINARY_MIME.value == "BINARYMIME"


def test_bdat_over_size_limit_is_read_and_refused() -> None:
    session = in_transaction(max_message_size=10)
    out = session.feed(b"BDAT 20\r\n" + b"q" * 20 + b"BDAT 1 LAST\r\nq")
    assert codes(out) == ["552", "503"]
    assert session.messages == []


def test_bdat_without_recipients_reads_the_chunk_then_554() -> None:
    session = Session.start()
    session.say("EHLO c.example\r\nMAIL FROM:<a@b.example>")
    out = session.feed(b"BDAT 6 LAST\r\nRSET\r\nNOOP\r\n")
    assert codes(out) == ["554", "250"]


def test_bad_bdat_arguments() -> None:
    session = in_transaction()
    for line in ("BDAT", "BDAT x", "BDAT 1 FIRST", "BDAT -1", "BDAT 1 LAST x"):
        assert session.say(line).startswith("501 5.5.4"), line


def test_eof_in_the_middle_of_data_or_bdat_closes() -> None:
    session = in_data()
    session.feed(b"partial")
    session.feed(b"")
    assert session.state is State.CLOSED and session.messages == []
    session = in_transaction()
    session.feed(b"BDAT 10\r\nabc")
    session.feed(b"")
    assert session.state is State.CLOSED
