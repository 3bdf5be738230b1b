"""CRLF framing: lines, limits, counted reads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailkeep.protocol.linebuffer import LINE_TOO_LONG, LineBuffer


def test_lines_need_crlf_and_keep_bare_cr_lf() -> None:
    buffer = LineBuffer(100)
    buffer.feed(b"one\r\ntwo\nstill two\rand\r")
    assert buffer.read_line() == b"one"
    assert buffer.read_line() is None
    buffer.feed(b"\nthree")
    assert buffer.read_line() == b"two\nstill two\rand"
    assert buffer.read_line() is None
    assert buffer.peek() == b"three"


def test_overlong_line_is_reported_once_and_framing_continues() -> None:
    buffer = LineBuffer(10)
    buffer.feed(b"0123456789abc")
    assert buffer.read_line() is None
    assert len(buffer) == 0
    buffer.feed(b"def\r")
    assert buffer.read_line() is None
    assert len(buffer) == 1  # the CR is kept: it may be half of the CRLF
    buffer.feed(b"\nok\r\n")
    assert buffer.read_line() is LINE_TOO_LONG
    assert buffer.read_line() == b"ok"


def test_overlong_line_in_one_piece_and_per_call_limit() -> None:
    buffer = LineBuffer(10)
    buffer.feed(b"x" * 20 + b"\r\n" + b"y" * 20 + b"\r\n")
    assert buffer.read_line() is LINE_TOO_LONG
    assert buffer.read_line(max_line=30) == b"y" * 20


def test_counted_reads_and_clear() -> None:
    buffer = LineBuffer(10)
    buffer.feed(b"abcdef")
    assert buffer.read_upto(4) == b"abcd"
    assert buffer.read_upto(10) == b"ef"
    buffer.feed(b"xyz")
    buffer.consume(1)
    assert buffer.clear() == 2 and len(buffer) == 0


@given(st.lists(st.binary(max_size=30), max_size=20), st.integers(min_value=2, max_value=40))
def test_any_split_yields_the_same_lines(pieces: list[bytes], limit: int) -> None:
    data = b"".join(pieces)
    whole = LineBuffer(limit)
    whole.feed(data)
    expected = []
    while (line := whole.read_line()) is not None:
        expected.append(line)
    split = LineBuffer(limit)
    got = []
    for piece in pieces:
        split.feed(piece)
        while (line := split.read_line()) is not None:
            got.append(line)
    # splitting may only turn a line into LINE_TOO_LONG earlier, never change other lines
    assert [g for g in got if g is not LINE_TOO_LONG] == [
        e for e in expected if e is not LINE_TOO_LONG
    ]
    assert all(len(line) + 2 <= limit for line in got if isinstance(line, bytes))
