"""Attack classes: STARTTLS injection, SMTP smuggling, header injection, NUL, early talkers,
cross-protocol requests. Each answer is checked on the wire."""

from __future__ import annotations

import pytest

from mailkeep.protocol.smtp.events import (
    ConnectionClosed,
    Greeting,
    MailFrom,
    PlaintextDiscarded,
    ProtocolError,
    RcptTo,
)
from mailkeep.protocol.smtp.server import Listener, SMTPServerConnection, State
from tests.protocol.smtp.session import Session, codes, config


def in_data() -> Session:
    session = Session.start()
    session.say("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA")
    assert session.state is State.DATA
    return session


def test_starttls_injection_is_discarded_and_reported() -> None:
    session = Session.start()
    session.auto_tls = False
    out = session.feed(b"EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<evil@x.example>\r\n")
    assert codes(out) == ["250", "220"]
    assert PlaintextDiscarded(len(b"MAIL FROM:<evil@x.example>\r\n")) in session.events
    # bytes arriving in plaintext before the handshake completes are dropped too
    assert session.feed(b"RCPT TO:<y@x.example>\r\n") == b""
    assert session.events[-1] == PlaintextDiscarded(len(b"RCPT TO:<y@x.example>\r\n"))
    for _ in range(1000):  # unread reports merge: memory stays bounded
        session.conn.receive_data(b"0123456789")
    assert session.conn.next_event() == PlaintextDiscarded(10_000)
    session.conn.tls_started()
    assert session.state is State.GREETED and session.conn.helo_name is None
    assert not any(isinstance(e, (MailFrom, RcptTo)) for e in session.events)
    assert session.say("MAIL FROM:<a@b.example>").startswith("503")  # EHLO again first
    assert session.say("EHLO c.example").startswith("250-")


def test_starttls_resets_authentication_and_transaction_state() -> None:
    session = Session.start(config(Listener.SUBMISSION))
    session.say("EHLO c.example")
    session.say("STARTTLS")
    assert session.conn.tls_active and session.conn.esmtp is False


SMUGGLING = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n.\n",
    b"\n.\r",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\n\n.\n\n",
]


@pytest.mark.parametrize("marker", SMUGGLING)
def test_smuggling_variants_never_end_data_or_start_a_second_message(marker: bytes) -> None:
    session = in_data()
    smuggled = (
        b"Subject: first\r\n\r\nhello"
        + marker
        + b"MAIL FROM:<admin@victim.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n"
        + b"Subject: smuggled\r\n\r\nevil\r\n.\r\n"
    )
    out = session.feed(smuggled)
    assert codes(out) == ["554"]  # one reply for the whole thing: the message is refused
    assert out.startswith(b"554 5.6.0 Message rejected")
    assert session.messages == []
    assert not any(
        isinstance(e, MailFrom) and str(e.address).startswith("admin") for e in session.events
    )
    assert session.state is State.READY
    assert session.say("NOOP").startswith("250")  # the session stays usable


@pytest.mark.parametrize("marker", SMUGGLING)
def test_smuggling_variants_split_across_reads(marker: bytes) -> None:
    session = in_data()
    data = b"x" + marker + b"MAIL FROM:<admin@victim.example>\r\n.\r\n"
    out = b"".join(session.feed(data[i : i + 1]) for i in range(len(data)))
    assert codes(out) == ["554"]
    assert str([e for e in session.events if isinstance(e, MailFrom)][-1].address) == "a@b.example"


def test_nul_in_data_is_refused() -> None:
    session = in_data()
    assert session.feed(b"a\x00b\r\n.\r\n").startswith(b"554 5.6.0 Message rejected: NUL")
    assert session.rejected == ["NUL in DATA"]


@pytest.mark.parametrize(
    "line",
    [
        b"MAIL FROM:<a@b.example>\rRCPT TO:<x@y.example>",
        b"MAIL FROM:<a@b\nexample>",
        b"MAIL FROM:<a@b.example>\x00",
        b"RCPT TO:<x@y.example\r\nX-Injected: yes>",
        b"EHLO c\x00.example",
        b"EHLO c.example\rMAIL",
        b"MAIL\x00 FROM:<a@b.example>",
    ],
)
def test_control_characters_in_commands_are_refused(line: bytes) -> None:
    session = Session.start()
    session.say("HELO c.example")
    out = session.feed(line + b"\r\n")
    assert codes(out) and all(code in ("500", "501", "503") for code in codes(out))
    assert not any(isinstance(e, (MailFrom, RcptTo)) for e in session.events)


def test_early_talker_on_mx_gets_554_and_close() -> None:
    conn = SMTPServerConnection(config())
    conn.receive_data(b"EHLO eager.example\r\n")
    event = conn.next_event()
    assert isinstance(event, ProtocolError)
    assert conn.send(event.reply) == b"554 Protocol error: you talked before the greeting\r\n"
    assert conn.state is State.CLOSED
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_early_talker_on_submission_is_only_flagged() -> None:
    conn = SMTPServerConnection(config(Listener.SUBMISSION))
    conn.receive_data(b"EHLO eager.example\r\n")
    assert conn.next_event() == Greeting(early_talker=True)


@pytest.mark.parametrize("line", ["GET / HTTP/1.1", "POST /x HTTP/1.0", "CONNECT a:25 HTTP/1.1"])
def test_http_requests_are_closed_at_once(line: str) -> None:
    session = Session.start()
    assert session.say(line) == "421 This is an SMTP server, closing\r\n"
    assert session.state is State.CLOSED


def test_binary_bdat_content_is_never_parsed_as_commands_even_when_refused() -> None:
    session = Session.start()
    session.say("EHLO c.example")
    payload = b"QUIT\r\nMAIL FROM:<evil@x.example>\r\n"
    out = session.feed(b"BDAT %d LAST\r\n" % len(payload) + payload + b"NOOP\r\n")
    assert codes(out) == ["503", "250"]
    assert not any(isinstance(e, MailFrom) for e in session.events)
    assert session.state is State.READY
