"""The client core: reply parsing, pipelining rules, and a whole session against the server
core in memory."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.smtp.client import (
    ReplyReceived,
    ServerMisbehaved,
    SMTPClientConnection,
    dot_stuff,
)
from mailkeep.protocol.smtp.events import NEED_DATA, ConnectionClosed
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.protocol.smtp.server import Listener
from tests.protocol.smtp.session import Session, config


def replies_of(client: SMTPClientConnection, data: bytes) -> list[object]:
    if data:
        client.receive_data(data)
    events = []
    while (event := client.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, (ServerMisbehaved, ConnectionClosed)):
            break
    return events


class Pair:
    """A client core wired to a server core in memory."""

    def __init__(self, session: Session | None = None) -> None:
        self.session = session or Session.start(config(), greet=False)
        self.client = SMTPClientConnection()
        self.greeting = self.exchange(b"")

    def exchange(self, data: bytes) -> list[ReplyReceived]:
        out = self.session.feed(data) if data else self.session.pump()
        events = replies_of(self.client, out)
        assert all(isinstance(e, ReplyReceived) for e in events), events
        return events  # type: ignore[return-value]


def test_full_session_against_the_server_core() -> None:
    pair = Pair()
    client = pair.client
    assert [e.command for e in pair.greeting] == ["GREETING"]
    (ehlo,) = pair.exchange(client.ehlo("out.example"))
    assert ehlo.reply.code == 250 and client.extensions is not None
    assert "PIPELINING" in client.extensions and "chunking" in client.extensions
    assert client.extensions.size_limit == 52428800
    group = (
        client.mail("a@b.example", {"SIZE": "30", "BODY": "8BITMIME"})
        + client.rcpt("x@y.example", {"NOTIFY": "FAILURE"})
        + client.rcpt("z@y.example")
        + client.data()
    )
    with pytest.raises(LocalProtocolError):
        client.rset()  # nothing may follow DATA before its reply
    events = pair.exchange(group)
    assert [(e.command, e.reply.code) for e in events] == [
        ("MAIL", 250),
        ("RCPT", 250),
        ("RCPT", 250),
        ("DATA", 354),
    ]
    assert events[0].reply == Reply(250, "2.1.0", "Sender ok")
    content = b"Subject: x\r\n\r\n.leading dot\r\n.\r\nlast"
    (done,) = pair.exchange(client.message(content))
    assert (done.command, done.reply.code) == ("MESSAGE", 250)
    assert pair.session.messages == [b"Subject: x\r\n\r\n.leading dot\r\n.\r\nlast\r\n"]
    wire = client.mail("a@b.example") + client.rcpt("x@y.example")
    wire += client.bdat(b"\x00binary\r\n.\r\n", last=False) + client.bdat(b"end", last=True)
    events = pair.exchange(wire)
    assert [e.reply.code for e in events] == [250, 250, 250, 250]
    assert pair.session.messages[-1] == b"\x00binary\r\n.\r\nend"
    bye, closed = replies_of(client, pair.session.feed(client.quit()))
    assert isinstance(bye, ReplyReceived) and bye.reply.code == 221
    assert isinstance(closed, ConnectionClosed)


def test_auth_plain_against_submissions() -> None:
    session = Session.start(config(Listener.SUBMISSIONS, tls_active=True), greet=False)
    pair = Pair(session)
    pair.exchange(pair.client.ehlo("c.example"))
    assert pair.client.extensions is not None
    assert "PLAIN" in pair.client.extensions.auth_mechanisms
    (reply,) = pair.exchange(pair.client.auth("PLAIN", b"\x00alice@example.org\x00correct horse"))
    assert reply.reply.code == 235
    login = Pair(Session.start(config(Listener.SUBMISSIONS, tls_active=True), greet=False))
    login.exchange(login.client.ehlo("c.example"))
    (challenge,) = login.exchange(login.client.auth("LOGIN"))
    assert base64.b64decode(challenge.reply.text) == b"Username:"
    (challenge,) = login.exchange(login.client.auth_response(b"alice@example.org"))
    assert base64.b64decode(challenge.reply.text) == b"Password:"
    (done,) = login.exchange(login.client.auth_response(b"correct horse"))
    assert done.reply.code == 235


def test_starttls_drops_injected_server_bytes() -> None:
    client = SMTPClientConnection()
    replies_of(client, b"220 hi\r\n")
    client.ehlo("c")
    replies_of(client, b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
    client.starttls()
    events = replies_of(client, b"220 go ahead\r\n250 injected\r\n")
    assert [e.reply.code for e in events if isinstance(e, ReplyReceived)] == [220]
    assert client.discarded == len(b"250 injected\r\n")
    with pytest.raises(LocalProtocolError):
        client.ehlo("c")  # not before the handshake
    client.tls_started()
    assert client.extensions is None
    client.ehlo("c")


def test_multiline_reply_and_enhanced_codes() -> None:
    client = SMTPClientConnection()
    (event,) = replies_of(client, b"220-first\r\n220-second\r\n220 third\r\n")
    assert isinstance(event, ReplyReceived)
    assert event.reply == Reply(220, None, "first\nsecond\nthird")
    client.ehlo("c")
    replies_of(client, b"250-mx\r\n250 PIPELINING\r\n")
    client.mail("a@b")
    (event,) = replies_of(client, b"550-5.7.1 no\r\n550 5.7.1 really\r\n")
    assert isinstance(event, ReplyReceived)
    assert event.reply == Reply(550, "5.7.1", "no\nreally")


@pytest.mark.parametrize(
    "data",
    [
        b"220-a\r\n250 b\r\n",
        b"hello\r\n",
        b"600 no\r\n",
        b"2\r\n",
        b"220 " + b"x" * 5000 + b"\r\n",
        b"220-x\r\n" * 300,
        b"220 a\r\n250 unsolicited\r\n",
    ],
)
def test_garbage_replies_end_the_session_cleanly(data: bytes) -> None:
    client = SMTPClientConnection()
    events = replies_of(client, data)
    assert isinstance(events[-1], ServerMisbehaved)
    assert isinstance(client.next_event(), ConnectionClosed)


def test_one_megabyte_reply_line_is_not_buffered() -> None:
    client = SMTPClientConnection()
    for _ in range(256):
        client.receive_data(b"x" * 4096)
        if client.next_event() is not NEED_DATA:
            break
    assert len(client._buffer) <= 4097


def test_no_pipelining_without_the_extension() -> None:
    client = SMTPClientConnection()
    replies_of(client, b"220 hi\r\n")
    client.ehlo("c")
    replies_of(client, b"250 mx\r\n")
    client.mail("a@b")
    with pytest.raises(LocalProtocolError):
        client.rcpt("x@y")
    with pytest.raises(LocalProtocolError):
        client.bdat(b"x", last=True)  # no CHUNKING either


def test_no_command_before_the_greeting_and_no_message_without_354() -> None:
    client = SMTPClientConnection()
    with pytest.raises(LocalProtocolError):
        client.ehlo("c")
    with pytest.raises(LocalProtocolError):
        client.message(b"x")


def test_control_characters_never_reach_the_wire() -> None:
    client = SMTPClientConnection()
    replies_of(client, b"220 hi\r\n")
    with pytest.raises(LocalProtocolError):
        client.mail("a@b>\r\nRCPT TO:<x@y")


@pytest.mark.parametrize(
    ("content", "wire"),
    [
        (b"", b".\r\n"),
        (b"a", b"a\r\n.\r\n"),
        (b".a\r\n", b"..a\r\n.\r\n"),
        (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"a\r.\rb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),
    ],
)
def test_dot_stuffing_normalises_line_ends(content: bytes, wire: bytes) -> None:
    assert dot_stuff(content) == wire


def test_421_in_the_middle_of_a_pipeline_ends_the_session() -> None:
    client = SMTPClientConnection()
    replies_of(client, b"220 hi\r\n")
    client.ehlo("c")
    replies_of(client, b"250-mx\r\n250 PIPELINING\r\n")
    client.mail("a@b")
    client.rcpt("x@y")
    client.rcpt("z@y")
    events = replies_of(client, b"250 ok\r\n421 4.3.2 shutting down\r\n")
    assert [e.reply.code for e in events if isinstance(e, ReplyReceived)] == [250, 421]
    assert client.waiting_for == ()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=6))
def test_random_server_bytes_never_raise(chunks: list[bytes]) -> None:
    client = SMTPClientConnection(max_reply_line=200)
    for chunk in chunks:
        for event in replies_of(client, chunk):
            assert isinstance(event, (ReplyReceived, ServerMisbehaved, ConnectionClosed))
