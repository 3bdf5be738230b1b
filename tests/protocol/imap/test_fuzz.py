"""Random input never raises anything but the protocol error types, and the session
always stays in a valid state."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.errors import ParseError
from mailkeep.protocol.imap.events import (
    CommandInvalid,
    CommandReceived,
    ConnectionClosed,
    IdleDone,
    SaslResponse,
    Write,
)
from mailkeep.protocol.imap.parser import parse_command
from mailkeep.protocol.imap.states import State

from .drive import events, new_conn

# Pieces of real commands, so that random sequences get deep into the grammar.
TOKENS = [
    b"a",
    b"UID",
    b"FETCH",
    b"SEARCH",
    b"STORE",
    b"SELECT",
    b"LIST",
    b"APPEND",
    b"LOGIN",
    b"AUTHENTICATE",
    b"IDLE",
    b"DONE",
    b"SORT",
    b"THREAD",
    b"ENABLE",
    b"STATUS",
    b"CREATE",
    b"ID",
    b"NIL",
    b"OR",
    b"NOT",
    b"ALL",
    b"FROM",
    b"HEADER",
    b"SINCE",
    b"1-Feb-1994",
    b"RETURN",
    b"(",
    b")",
    b"[",
    b"]",
    b"<",
    b">",
    b".",
    b"1",
    b"*",
    b"$",
    b"1:*",
    b"2,4:7",
    b"BODY[",
    b"BODY.PEEK[",
    b"BINARY[",
    b"HEADER.FIELDS",
    b"MIME",
    b"TEXT",
    b"<0.10>",
    b"FLAGS",
    b"+FLAGS.SILENT",
    b"\\Seen",
    b"{3}",
    b"{2+}",
    b"~{1}",
    b'"q"',
    b'"',
    b"\\",
    b" ",
    b" ",
    b" ",
    b"\r\n",
    b"CHARSET",
    b"UTF-8",
    b"(CHANGEDSINCE 3)",
    b"QRESYNC",
    b"&U,BTFw-",
    b"&",
    b"\xc3\xa9",
    b"\x00",
    b"%",
    b"INBOX",
    b"MODSEQ",
    b"USE",
]
wire_text = st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)


@given(
    st.lists(st.one_of(st.binary(max_size=40), wire_text), min_size=1, max_size=4),
    st.booleans(),
)
def test_parser_raises_only_parse_errors(lines: list[bytes], utf8: bool) -> None:
    lines = [line.replace(b"\r\n", b" ") for line in lines]
    literals = [b"lit"] * (len(lines) - 1)
    try:
        command = parse_command(lines, literals, utf8=utf8)
    except ParseError as exc:
        assert exc.reply.status in (r.Status.BAD, r.Status.NO)
        assert exc.reason
        return
    assert isinstance(command, c.TaggedCommand)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(
    st.lists(st.one_of(st.binary(max_size=60), wire_text), max_size=8),
    st.sampled_from(list(State)[:3]),
)
def test_session_survives_anything(chunks: list[bytes], state: State) -> None:
    conn = new_conn(max_line=200, max_literal=50, max_message=100, max_command=400)
    conn.state = state
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)
        pending = events(conn)
        while pending:
            event = pending.pop(0)
            if isinstance(event, CommandReceived):
                tag = event.command.tag
                if isinstance(event.command.command, c.Idle | c.Authenticate):
                    conn.send(r.Continuation())
                else:
                    conn.send(r.OK_DONE.tagged(tag))
                    if isinstance(event.command.command, c.StartTLS):
                        conn.tls_started()
                    elif isinstance(event.command.command, c.Compress):
                        conn.compression_started()
            elif isinstance(event, CommandInvalid):
                conn.send(event.error.reply)
            elif isinstance(event, IdleDone | SaslResponse):
                conn.send(r.OK_DONE.tagged(event.tag))
            else:
                assert isinstance(event, Write | ConnectionClosed)
            pending += events(conn)
        assert conn.state in State
    assert events(conn) == []
