"""DATA dot-stuffing, end-of-data at every read boundary, line and size limits; BDAT chunks."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.protocol.linebuffer import LineBuffer
from mailkeep.protocol.smtp.client import dot_stuff
from mailkeep.protocol.smtp.content import DataReader
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
    streamed = 0
    for _ in range(150_000):
        conn.receive_data(b"a")
        while (event := conn.next_event()) is not NEED_DATA:
            assert isinstance(event, MessageChunk)
            streamed += len(event.data)
    assert time.process_time() - started < 15
    assert 150_000 - 64 * 1024 <= streamed < 150_000  # passed on, not held
    assert session.feed(b"\r\n.\r\n") == b"250 2.0.0 Message accepted\r\n"
    complete = next(e for e in session.events if isinstance(e, MessageComplete))
    assert complete.size == 150_002 and complete.long_lines


def test_memory_per_connection_is_bounded_by_the_streaming_threshold() -> None:
    session = in_data()
    for _ in range(40):
        session.feed(b"." + b"q" * 9_999)  # a 400 KB line that starts with a stuffed dot
        assert len(session.conn._buffer) <= 64 * 1024
    assert session.feed(b"\r\n.\r\n") == b"250 2.0.0 Message accepted\r\n"
    assert session.messages[0].startswith(b"q" * 9_999 + b".")
    assert len(session.messages[0]) == 400_000 - 1 + 2


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=40)), max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=8),
    stream_after=st.integers(min_value=2, max_value=30),
)
def test_streaming_partial_lines_keeps_dots_and_line_starts_right(
    lines: list[tuple[bool, int]], cuts: list[int], stream_after: int
) -> None:
    content = b"".join((b"." if dot else b"") + b"w" * n + b"\r\n" for dot, n in lines)
    wire = dot_stuff(content) + b"TAIL"
    buffer = LineBuffer(100)
    reader = DataReader(buffer, max_size=10**6, max_line=10**6, stream_after=stream_after)
    out = bytearray()
    start = 0
    for cut in [*sorted(c for c in cuts if c < len(wire)), len(wire)]:
        buffer.feed(wire[start:cut])
        start = cut
        while chunk := reader.read():
            out += chunk
    assert reader.finished and reader.problem is None
    assert bytes(out) == content and buffer.peek() == b"TAIL"


def test_end_mark_is_only_recognised_at_a_line_start_after_streaming() -> None:
    buffer = LineBuffer(100)
    reader = DataReader(buffer, max_size=10**6, max_line=10**6, stream_after=4)
    buffer.feed(b"abcdef")
    assert reader.read() == b"abcdef"
    buffer.feed(b".\r\n.\r\n")  # "abcdef." ends the line; then the real end mark
    assert reader.read() == b".\r\n"
    assert reader.finished


def test_bare_lf_in_a_streamed_partial_line_dooms_the_message() -> None:
    buffer = LineBuffer(100)
    reader = DataReader(buffer, max_size=10**6, max_line=10**6, stream_after=4)
    buffer.feed(b"ab\n.\nMAIL FROM:<x@y>")
    assert reader.read() == b""
    buffer.feed(b"\r\n.\r\n")
    reader.read()
    assert reader.finished and reader.problem is not None
    assert reader.problem[0] == "bare CR or LF in DATA"


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


@settings(max_examples=400, deadline=None)
@given(
    wire=st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\x00"]), max_size=40).map(
        b"".join
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6),
    stream_after=st.integers(min_value=3, max_value=12),
)
def test_data_ends_exactly_where_a_line_based_reference_says(
    wire: bytes, cuts: list[int], stream_after: int
) -> None:
    wire += b"\r\n.\r\nAFTER"
    lines = wire.split(b"\r\n")
    k = next(i for i, line in enumerate(lines[:-1]) if line == b".")
    raw = b"".join(line + b"\r\n" for line in lines[:k])
    rest = b"\r\n".join(lines[k + 1 :])
    buffer = LineBuffer(100)
    reader = DataReader(buffer, max_size=10**6, max_line=10**6, stream_after=stream_after)
    out = bytearray()
    start = 0
    for cut in [*sorted(c for c in cuts if c < len(wire)), len(wire)]:
        buffer.feed(wire[start:cut])
        start = cut
        while chunk := reader.read():
            out += chunk
    assert reader.finished and buffer.peek() == rest
    body = b"".join(line + b"\r\n" for line in raw.split(b"\r\n")[:-1])
    bad = any(c in line for line in body.split(b"\r\n") for c in (b"\r", b"\n", b"\x00"))
    assert (reader.problem is not None) == bad
    if not bad:
        unstuffed = b"".join(
            (line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines[:k]
        )
        assert bytes(out) == unstuffed
