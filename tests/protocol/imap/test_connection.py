"""The session core: framing, literals and their limits, IDLE, AUTHENTICATE, STARTTLS,
COMPRESS, state changes."""

from __future__ import annotations

import pytest

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.events import (
    CommandInvalid,
    CommandReceived,
    ConnectionClosed,
    IdleDone,
    SaslResponse,
    Write,
)
from mailkeep.protocol.imap.responses import Continuation, Status
from mailkeep.protocol.imap.states import State
from mailkeep.protocol.imap.values import Atom

from .drive import events, new_conn

PLUS = Write(b"+ ready for literal data\r\n")


def received(event: object) -> c.TaggedCommand:
    assert isinstance(event, CommandReceived), event
    return event.command


def invalid(event: object) -> r.StatusResponse:
    assert isinstance(event, CommandInvalid), event
    return event.error.reply


def test_one_command_at_a_time() -> None:
    conn = new_conn()
    got = events(conn, b"a NOOP\r\nb CAPABILITY\r\n")
    assert [received(e).name for e in got] == ["NOOP"]
    assert events(conn) == []  # b waits until a is answered
    assert conn.send(r.OK_DONE.tagged("a")) == b"a OK done\r\n"
    assert [received(e).name for e in events(conn)] == ["CAPABILITY"]


LOGIN = b"a LOGIN {3}\r\njoe {6}\r\nse\r\nt!\r\n"


@pytest.mark.parametrize("split", range(1, len(LOGIN)))
def test_literals_split_at_every_offset(split: int) -> None:
    conn = new_conn()
    got = events(conn, LOGIN[:split]) + events(conn, LOGIN[split:])
    assert got[:2] == [PLUS, PLUS]
    assert received(got[2]).command == c.Login("joe", "se\r\nt!")
    assert len(got) == 3


def test_literals_byte_by_byte() -> None:
    conn = new_conn()
    got = []
    for i in range(len(LOGIN)):
        got += events(conn, LOGIN[i : i + 1])
    assert got[:2] == [PLUS, PLUS]
    assert received(got[2]).command == c.Login("joe", "se\r\nt!")


def test_plus_comes_only_after_the_literal_header() -> None:
    conn = new_conn()
    assert events(conn, b"a LOGIN {3}") == []
    assert events(conn, b"\r\n") == [PLUS]
    assert events(conn, b"jo") == []


def test_non_synchronizing_literals_need_no_continuation() -> None:
    conn = new_conn(authenticated=True)
    got = events(conn, b"a APPEND x {5+}\r\nhello {0+}\r\n\r\n")
    assert len(got) == 1
    append = received(got[0]).command
    assert isinstance(append, c.Append)
    assert [m.data for m in append.messages] == [b"hello", b""]


def test_empty_synchronizing_literal_still_gets_a_continuation() -> None:
    conn = new_conn(authenticated=True)
    got = events(conn, b"a SELECT {0}\r\n\r\n")
    assert got[0] == PLUS
    assert received(got[1]).command == c.Select("")


def test_oversized_synchronizing_literal_is_refused_and_the_session_goes_on() -> None:
    conn = new_conn(authenticated=True, max_literal=10)
    got = events(conn, b"a SELECT {11}\r\n")
    reply = invalid(got[0])
    assert reply.tag == "a" and reply.status is Status.BAD and reply.code == r.Code("TOOBIG")
    assert PLUS not in got
    conn.send(reply)
    assert events(conn, b"b SELECT {10}\r\n") == [PLUS]
    assert received(events(conn, b"0123456789\r\n")[0]).tag == "b"


def test_appendlimit_answers_no_toobig() -> None:
    conn = new_conn(authenticated=True, max_message=100)
    reply = invalid(events(conn, b"a APPEND INBOX {101}\r\n")[0])
    assert reply.status is Status.NO and reply.code == r.Code("TOOBIG")  # RFC 7889
    assert conn.send(reply) == b"a NO [TOOBIG] message larger than APPENDLIMIT\r\n"
    got = events(conn, b"b APPEND INBOX {100}\r\n")
    assert got == [PLUS]


def test_oversized_non_synchronizing_literal_closes_without_buffering() -> None:
    conn = new_conn(authenticated=True, max_message=100)
    got = events(conn, b"a APPEND INBOX {1000000+}\r\n" + b"x" * 5000)
    assert got == [
        Write(b"a BAD [TOOBIG] non-synchronizing literal too large, closing\r\n"),
        ConnectionClosed(),
    ]
    assert not conn.wants_data
    conn.receive_data(b"y" * 100000)
    assert events(conn) == []
    assert conn.state is State.LOGOUT or conn.state is State.AUTHENTICATED


def test_command_total_is_bounded() -> None:
    conn = new_conn(authenticated=True, max_message=100, max_command=150)
    got = events(conn, b"a APPEND INBOX {100+}\r\n" + b"x" * 100 + b" {100}\r\n")
    reply = invalid(got[-1])
    assert reply.code == r.Code("TOOBIG") and reply.tag == "a"


def test_no_literals_for_commands_not_allowed_now() -> None:
    conn = new_conn()  # not authenticated
    reply = invalid(events(conn, b"a APPEND INBOX {10}\r\n")[0])
    assert reply == r.BAD_WRONG_STATE.tagged("a")
    conn.send(reply)
    reply = invalid(events(conn, b"b FROB {10}\r\n")[0])
    assert reply == r.BAD_UNKNOWN_COMMAND.tagged("b")
    conn.send(reply)
    reply = invalid(events(conn, b"c LOGIN {9000}\r\n")[0])  # max_literal_before_login
    assert reply.code == r.Code("TOOBIG")


def test_small_literal_of_a_refused_command_is_skipped() -> None:
    conn = new_conn()  # not authenticated: APPEND is not allowed
    got = events(conn, b"a APPEND INBOX {10+}\r\n0123\r\n6789 {2+}\r\nxy\r\nb NOOP\r\n")
    assert [invalid(e) for e in got] == [r.BAD_WRONG_STATE.tagged("a")]
    conn.send(r.BAD_WRONG_STATE.tagged("a"))
    assert received(events(conn)[0]).tag == "b"  # in step with the client again


def test_refused_command_then_synchronizing_literal() -> None:
    conn = new_conn()
    got = events(conn, b"a FROB {3+}\r\nabc {5}\r\n")
    assert len(got) == 1  # no "+" for the synchronizing literal
    assert invalid(got[0]) == r.BAD_UNKNOWN_COMMAND.tagged("a")


def test_large_literal_of_a_refused_command_closes() -> None:
    conn = new_conn()
    got = events(conn, b"a APPEND INBOX {10000+}\r\n")
    assert isinstance(got[0], Write) and got[0].data.startswith(b"a BAD [TOOBIG]")
    assert got[1] == ConnectionClosed()


@pytest.mark.parametrize("piece", [1, 7, 1000, 100000])
def test_overlong_line_is_dropped_as_it_arrives(piece: int) -> None:
    conn = new_conn(max_line=1000)
    wire = b"tag1 LOGIN " + b"x" * 5000 + b"\r\nb NOOP\r\n"
    got = []
    for i in range(0, len(wire), piece):
        got += events(conn, wire[i : i + piece])
        assert conn._buf.__len__() <= 1000 + piece
    reply = invalid(got[0])
    assert reply.tag == "tag1" and reply.code == r.Code("TOOBIG")
    conn.send(reply)
    assert received(events(conn)[0]).name == "NOOP"


def test_overlong_line_announcing_non_sync_literal_closes() -> None:
    conn = new_conn(max_line=100)
    got = events(conn, b"a LOGIN " + b"x" * 200 + b" {5+}\r\nb NOO")
    assert isinstance(got[0], Write) and got[0].data.startswith(b"a BAD")
    assert got[-1] == ConnectionClosed()


def test_untagged_bad_for_garbage() -> None:
    conn = new_conn()
    reply = invalid(events(conn, b"(((\r\n")[0])
    assert reply.tag is None
    assert conn.send(reply).startswith(b"* BAD ")
    assert received(events(conn, b"a NOOP\r\n")[0]).tag == "a"
    assert conn.bad_commands == 1


def test_blank_lines_between_commands_are_ignored() -> None:
    conn = new_conn()
    assert received(events(conn, b"\r\n\r\na NOOP\r\n")[0]).tag == "a"


def test_states_follow_tagged_responses() -> None:
    conn = new_conn()
    reply = invalid(events(conn, b"a SELECT INBOX\r\n")[0])
    assert reply == r.BAD_WRONG_STATE.tagged("a")
    conn.send(reply)
    received(events(conn, b"b LOGIN joe pw\r\n")[0])
    conn.send(r.NO_AUTH_FAILED.tagged("b"))
    assert conn.state is State.NOT_AUTHENTICATED
    received(events(conn, b"c LOGIN joe pw\r\n")[0])
    conn.send(r.ok("LOGIN completed").tagged("c"))
    assert conn.state is State.AUTHENTICATED
    received(events(conn, b"d SELECT INBOX\r\n")[0])
    conn.send(r.ok("[READ-WRITE]").tagged("d"))
    assert conn.state is State.SELECTED
    received(events(conn, b"e SELECT nosuch\r\n")[0])
    conn.send(r.NO_NONEXISTENT.tagged("e"))
    assert conn.state is State.AUTHENTICATED  # RFC 9051 6.3.2
    invalid(events(conn, b"f FETCH 1 FLAGS\r\n")[0])
    conn.send(r.BAD_WRONG_STATE.tagged("f"))
    received(events(conn, b"g EXAMINE INBOX\r\n")[0])
    conn.send(r.OK_DONE.tagged("g"))
    received(events(conn, b"h UID FETCH 1 FLAGS\r\n")[0])
    conn.send(r.OK_DONE.tagged("h"))
    received(events(conn, b"i UNSELECT\r\n")[0])
    conn.send(r.OK_DONE.tagged("i"))
    assert conn.state is State.AUTHENTICATED
    received(events(conn, b"j UNAUTHENTICATE\r\n")[0])
    conn.send(r.OK_DONE.tagged("j"))
    assert conn.state is State.NOT_AUTHENTICATED
    received(events(conn, b"k LOGOUT\r\n")[0])
    conn.send(r.BYE_LOGOUT)
    conn.send(r.OK_LOGOUT.tagged("k"))
    assert conn.state is State.LOGOUT
    assert events(conn, b"l NOOP\r\n") == [ConnectionClosed()]


def test_wrong_tag_is_our_bug() -> None:
    conn = new_conn()
    events(conn, b"a NOOP\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send(r.OK_DONE.tagged("zz"))
    with pytest.raises(LocalProtocolError):
        conn.send(Continuation())  # NOOP takes no continuation


def test_idle() -> None:
    conn = new_conn(authenticated=True)
    assert received(events(conn, b"a IDLE\r\n")[0]).command == c.Idle()
    assert conn.send(Continuation("idling")) == b"+ idling\r\n"
    conn.send(r.Data((3, Atom("EXISTS"))))  # updates while idling
    assert events(conn, b"done\r\n") == [IdleDone("a")]
    conn.send(r.ok("IDLE terminated").tagged("a"))
    assert received(events(conn, b"b NOOP\r\n")[0]).tag == "b"


def test_idle_needs_done() -> None:
    conn = new_conn(authenticated=True)
    events(conn, b"a IDLE\r\n")
    conn.send(Continuation("idling"))
    reply = invalid(events(conn, b"b NOOP\r\n")[0])
    assert reply == r.BAD_IDLE_NOT_DONE.tagged("a")
    conn.send(reply)
    assert conn.state is State.AUTHENTICATED


def test_authenticate_exchange() -> None:
    conn = new_conn()
    cmd = received(events(conn, b"a AUTHENTICATE PLAIN\r\n")[0])
    assert cmd.command == c.Authenticate("PLAIN")
    assert conn.send(Continuation(data=b"")) == b"+ \r\n"
    got = events(conn, b"AGpvZQBwdw==\r\n")
    assert got == [SaslResponse("a", b"\0joe\0pw")]
    assert "pw" not in repr(got[0])
    conn.send(r.ok("logged in").tagged("a"))
    assert conn.state is State.AUTHENTICATED


@pytest.mark.parametrize(
    ("line", "expected"), [(b"*", r.BAD_AUTH_CANCELLED), (b"!!", r.BAD_NOT_BASE64)]
)
def test_authenticate_cancel_or_garbage(line: bytes, expected: r.StatusResponse) -> None:
    conn = new_conn()
    events(conn, b"a AUTHENTICATE PLAIN\r\n")
    conn.send(Continuation(data=b""))
    reply = invalid(events(conn, line + b"\r\n")[0])
    assert reply == expected.tagged("a")
    conn.send(reply)
    assert conn.state is State.NOT_AUTHENTICATED
    assert received(events(conn, b"b NOOP\r\n")[0]).tag == "b"


def test_starttls_drops_injected_commands() -> None:
    conn = new_conn()
    received(events(conn, b"a STARTTLS\r\nb LOGIN joe pw\r\n")[0])
    conn.send(r.OK_STARTTLS.tagged("a"))
    assert events(conn) == []
    assert conn.tls_started() == len(b"b LOGIN joe pw\r\n")
    assert events(conn) == []
    assert received(events(conn, b"c CAPABILITY\r\n")[0]).tag == "c"


def test_starttls_refused_keeps_reading() -> None:
    conn = new_conn()
    received(events(conn, b"a STARTTLS\r\nb NOOP\r\n")[0])
    conn.send(r.BAD_TLS_ACTIVE.tagged("a"))
    assert received(events(conn)[0]).tag == "b"
    with pytest.raises(LocalProtocolError):
        conn.tls_started()


def test_compress_hands_back_the_compressed_bytes() -> None:
    conn = new_conn(authenticated=True)
    received(events(conn, b"a COMPRESS DEFLATE\r\n\x78\x9c\x01")[0])
    conn.send(r.OK_DONE.tagged("a"))
    assert events(conn) == []
    with pytest.raises(LocalProtocolError):
        conn.tls_started()  # the hand-off must match the command
    assert conn.compression_started() == b"\x78\x9c\x01"
    assert received(events(conn, b"b NOOP\r\n")[0]).tag == "b"


def test_end_of_input() -> None:
    conn = new_conn()
    conn.receive_data(b"a NOO")
    conn.receive_data(b"")
    assert events(conn) == [ConnectionClosed()]
    assert events(conn) == []


def test_utf8_after_enable() -> None:
    conn = new_conn(authenticated=True)
    received(events(conn, b"a ENABLE IMAP4rev2\r\n")[0])
    conn.enable_utf8()
    conn.send(r.OK_DONE.tagged("a"))
    cmd = received(events(conn, b'b CREATE "\xc3\xa9t\xc3\xa9"\r\n')[0])
    assert cmd.command == c.Create("été")
    assert (
        conn.send(r.Data((Atom("LIST"), [], "/", "été")))
        == b'* LIST () "/" "\xc3\xa9t\xc3\xa9"\r\n'
    )


def test_pipelined_input_is_bounded_by_wants_data() -> None:
    conn = new_conn(max_line=100)
    events(conn, b"a NOOP\r\n")
    assert conn.wants_data
    conn.receive_data(b"b NOOP\r\n" * 20)
    assert not conn.wants_data
