"""Transcripts: client lines in, the server core's replies out, command by command."""

from __future__ import annotations

import pytest

from mailkeep.errors import LocalProtocolError
from mailkeep.mail.address import parse_address
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.events import (
    NEED_DATA,
    ConnectionClosed,
    Ehlo,
    Greeting,
    MailFrom,
    RcptTo,
    Vrfy,
)
from mailkeep.protocol.smtp.grammar import Body, Notify, Ret, Verb
from mailkeep.protocol.smtp.server import Listener, SMTPServerConnection, State
from tests.protocol.smtp.session import HOST, Session, codes, config


def ready(listener: Listener = Listener.MX, **kwargs: object) -> Session:
    session = Session.start(config(listener, **kwargs))  # type: ignore[arg-type]
    assert session.say("EHLO client.example").startswith("250-")
    return session


def test_greeting_then_ehlo_lists_extensions_on_mx_without_tls() -> None:
    session = Session(SMTPServerConnection(config()))
    assert session.pump() == f"220 {HOST} ESMTP mailkeep\r\n".encode()
    out = session.say("EHLO client.example")
    assert out.splitlines() == [
        f"250-{HOST}",
        "250-PIPELINING",
        "250-SIZE 52428800",
        "250-8BITMIME",
        "250-BINARYMIME",
        "250-CHUNKING",
        "250-SMTPUTF8",
        "250-ENHANCEDSTATUSCODES",
        "250-DSN",
        "250 STARTTLS",
    ]
    assert session.state is State.READY


def test_ehlo_over_tls_offers_requiretls_and_never_auth_on_mx() -> None:
    out = Session.start(config(tls_active=True)).say("EHLO c.example")
    assert "250-REQUIRETLS" in out.splitlines() or "250 REQUIRETLS" in out.splitlines()
    assert "STARTTLS" not in out and "AUTH" not in out


def test_submission_offers_auth_only_after_tls() -> None:
    plain = Session.start(config(Listener.SUBMISSION)).say("EHLO c.example")
    assert "AUTH" not in plain and "STARTTLS" in plain
    tls = Session.start(config(Listener.SUBMISSIONS, tls_active=True)).say("EHLO c.example")
    assert "250 AUTH SCRAM-SHA-256 PLAIN LOGIN" in tls.splitlines()


def test_helo_session_has_no_extensions_and_no_enhanced_codes() -> None:
    session = Session.start()
    assert session.say("HELO client.example") == f"250 {HOST}\r\n"
    assert session.say("MAIL FROM:<a@b.example>") == "250 Sender ok\r\n"
    assert codes(session.say("MAIL FROM:<a@b.example>")) == ["503"]
    assert session.say("RCPT TO:<x@y.example> NOTIFY=NEVER") == (
        "555 Unsupported MAIL/RCPT parameter\r\n"
    )


def test_full_transaction_reports_envelope_and_message() -> None:
    session = ready()
    out = session.say(
        "MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1\r\n"
        "RCPT TO:<x@y.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+40y.example\r\n"
        "DATA"
    )
    assert out.splitlines() == [
        "250 2.1.0 Sender ok",
        "250 2.1.5 Recipient ok",
        "354 End data with <CR><LF>.<CR><LF>",
    ]
    assert session.state is State.DATA
    out = session.say("Subject: t\r\n\r\nbody\r\n.")
    assert out == "250 2.0.0 Message accepted\r\n"
    assert session.messages == [b"Subject: t\r\n\r\nbody\r\n"]
    mail = next(e for e in session.events if isinstance(e, MailFrom))
    assert mail == MailFrom(
        parse_address("a@b.example"),
        1000,
        Body.EIGHT_BIT_MIME,
        False,
        Ret.HDRS,
        "QQ+1",
        False,
        None,
    )
    rcpt = next(e for e in session.events if isinstance(e, RcptTo))
    assert rcpt == RcptTo(
        parse_address("x@y.example"),
        frozenset({Notify.SUCCESS, Notify.DELAY}),
        ("rfc822", "x@y.example"),
    )
    assert session.state is State.READY and session.conn.transaction is None


def test_rejected_mail_and_rcpt_keep_state() -> None:
    session = ready()
    session.mail_reply = lambda _: replies.Reply(550, "5.7.1", "No")
    assert codes(session.say("MAIL FROM:<a@b.example>")) == ["550"]
    assert session.state is State.READY
    session.mail_reply = lambda _: replies.MAIL_OK
    session.rcpt_reply = lambda e: (
        replies.RCPT_OK if str(e.address) == "ok@y.example" else replies.Reply(550, "5.1.1", "No")
    )
    out = session.say("MAIL FROM:<a@b.example>\r\nRCPT TO:<bad@y.example>\r\nDATA")
    assert codes(out) == ["250", "550", "554"]
    assert "554 5.5.1 No valid recipients" in out
    out = session.say("RCPT TO:<ok@y.example>\r\nDATA\r\nx\r\n.")
    assert codes(out) == ["250", "354", "250"]
    assert session.conn.accepted_recipients == 0


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("FOO", "500 5.5.2"),
        ("MAIL FROM:a@b.example", "501 5.1.3"),
        ("MAIL FROM:<a@b.example> FOO=1", "555 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=x", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=1 SIZE=2", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SIZE=99999999999", "552 5.3.4"),
        ("MAIL FROM:<a@b.example> BODY=9BIT", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> RET=ALL", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> ENVID=a+zz", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> SMTPUTF8=yes", "501 5.5.4"),
        ("MAIL FROM:<a@b.example> REQUIRETLS", "530 5.7.10"),
        ("MAIL FROM:<a@b.example> AUTH=<>", "555 5.5.4"),
        ("MAIL FROM:<ü@b.example>", "553 5.6.7"),
        ("MAIL FROM:<a..b@b.example>", "501 5.1.3"),
        ("MAIL FROM:<a@-b.example>", "501 5.1.3"),
        ("MAIL FROM:<" + "a" * 65 + "@b.example>", "501 5.1.3"),
        ("MAIL FROM:<a@b.example>x", "501 5.5.4"),
        ("RCPT TO:<x@y.example>", "503 5.5.1"),
        ("DATA", "503 5.5.1"),
        ("EXPN list", "502 5.5.1"),
        ("VRFY", "501 5.5.4"),
        ("RSET now", "501 5.5.4"),
        ("QUIT now", "501 5.5.4"),
        ("STARTTLS x", "501 5.5.4"),
        ("AUTH PLAIN", "502 5.5.1"),
    ],
)
def test_bad_commands_get_5xx_with_enhanced_code_and_the_session_goes_on(
    line: str, reply: str
) -> None:
    session = ready()
    assert session.say(line).startswith(reply + " ")
    assert session.say("NOOP") == "250 2.0.0 Ok\r\n"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("RCPT TO:<x@y.example> NOTIFY=NEVER,SUCCESS", "501 5.5.4"),
        ("RCPT TO:<x@y.example> NOTIFY=SOMETIMES", "501 5.5.4"),
        ("RCPT TO:<x@y.example> ORCPT=rfc822", "501 5.5.4"),
        ("RCPT TO:<x@y.example> ORCPT=rfc822;a+1", "501 5.5.4"),
        ("RCPT TO:<x@y.example> XFOO", "555 5.5.4"),
        ("RCPT TO:<ü@y.example>", "553 5.6.7"),
        ("RCPT TO:<x@y.example> ORCPT=rfc822;" + "a" * 600, "501 5.5.4"),
        ("MAIL FROM:<a@b.example>", "503 5.5.1"),
        ("STARTTLS", "503 5.5.1"),
        ("AUTH PLAIN", "503 5.5.1"),
    ],
)
def test_bad_rcpt_commands_in_a_transaction(line: str, reply: str) -> None:
    session = ready()
    session.say("MAIL FROM:<a@b.example>")
    assert session.say(line).startswith(reply + " ")
    assert session.state is State.MAIL


def test_postmaster_source_route_and_utf8_recipients() -> None:
    session = ready()
    out = session.say(
        "MAIL FROM:<@relay.example,@other.example:a@b.example> SMTPUTF8\r\n"
        "RCPT TO:<Postmaster>\r\n"
        "RCPT TO:<@evil.example:x@y.example>\r\n"
        'RCPT TO:<"quoted > local"@y.example>\r\n'
        "RCPT TO:<ü@bücher.example> ORCPT=utf-8;\\x{FC}@b\\x{FC}cher.example"
    )
    assert codes(out) == ["250"] * 5
    rcpts = [e for e in session.events if isinstance(e, RcptTo)]
    assert [r.address.text for r in rcpts] == [
        "postmaster@mx.example.org",
        "x@y.example",
        '"quoted > local"@y.example',
        "ü@xn--bcher-kva.example",
    ]
    assert rcpts[3].orcpt == ("utf-8", "ü@bücher.example")
    mail = next(e for e in session.events if isinstance(e, MailFrom))
    assert str(mail.address) == "a@b.example" and mail.smtputf8


def test_null_sender_and_mail_resets_with_rset() -> None:
    session = ready()
    assert codes(session.say("MAIL FROM:<>\r\nRSET\r\nMAIL FROM:<a@b.example>")) == [
        "250",
        "250",
        "250",
    ]


def test_commands_before_ehlo_are_out_of_sequence() -> None:
    session = Session.start()
    out = session.say("MAIL FROM:<a@b.example>\r\nSTARTTLS\r\nNOOP\r\nHELP\r\nVRFY bob")
    assert out.splitlines()[:2] == ["503 Send EHLO first", "503 Send EHLO first"]
    assert codes(out)[2:] == ["250", "214", "252"]


def test_vrfy_reveals_nothing() -> None:
    session = ready()
    assert (
        session.say("VRFY alice")
        == "252 2.5.0 Cannot verify the user; send mail and delivery is tried\r\n"
    )
    assert isinstance(session.events[-1], Vrfy)


def test_quit_closes() -> None:
    session = ready()
    assert session.say("QUIT") == "221 2.0.0 Bye\r\n"
    assert session.state is State.CLOSED
    assert isinstance(session.conn.next_event(), ConnectionClosed)


def test_eof_closes_even_mid_command() -> None:
    session = ready()
    session.feed(b"NOO")
    session.feed(b"")
    assert isinstance(session.events[-1], ConnectionClosed)
    assert session.state is State.CLOSED


def test_recipient_limit_gives_452() -> None:
    session = Session.start(config(max_recipients=2))
    session.say("EHLO c.example")
    out = session.say(
        "MAIL FROM:<a@b.example>\r\n" + "\r\n".join(f"RCPT TO:<r{i}@y.example>" for i in range(3))
    )
    assert codes(out) == ["250", "250", "250", "452"]
    assert "452 4.5.3 Too many recipients" in out


def test_error_limit_disconnects_with_421() -> None:
    session = Session.start(config(max_errors=3))
    out = session.say("EHLO c.example\r\nFOO\r\nBAR\r\nBAZ\r\nNOOP")
    assert codes(out) == ["250", "500", "500", "500", "421"]
    assert session.state is State.CLOSED


def test_command_limit_disconnects_with_421() -> None:
    session = Session.start(config(max_commands=3))
    out = session.say("EHLO c.example\r\nNOOP\r\nNOOP\r\nNOOP")
    assert codes(out) == ["250", "250", "250", "421"]
    assert session.state is State.CLOSED


def test_overlong_command_line_is_500_and_the_session_continues() -> None:
    session = ready()
    out = session.say("NOOP " + "x" * 3000 + "\r\nNOOP " + "y" * 20000 + "\r\nNOOP")
    assert out.splitlines() == ["500 5.5.2 Line too long"] * 2 + ["250 2.0.0 Ok"]


def test_overlong_line_fed_in_small_pieces_is_dropped_not_buffered() -> None:
    session = ready()
    for _ in range(2000):
        assert session.feed(b"z" * 64) == b""
    assert len(session.conn._buffer) < 100  # the line is dropped as it arrives
    assert session.say("\r\nNOOP") == "500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n"


def test_pipelined_group_is_answered_in_order_in_one_batch() -> None:
    session = ready()
    out = session.feed(
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<z@y.example>\r\nDATA\r\n"
        b"hello\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.example>\r\nBDAT 3 LAST\r\nabcQUIT\r\n"
    )
    assert codes(out) == ["250", "250", "250", "354", "250", "250", "250", "250", "221"]
    assert session.messages == [b"hello\r\n", b"abc"]


def test_improper_pipelining_is_recorded_not_refused() -> None:
    session = ready()
    session.say("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>")
    assert session.conn.improper_pipelining is None  # MAIL and RCPT may be grouped
    out = session.feed(b"DATA\r\nSubject: eager\r\n\r\nx\r\n.\r\n")
    assert codes(out) == ["354", "250"]
    assert session.conn.improper_pipelining is Verb.DATA


def test_reply_needed_before_next_event() -> None:
    conn = SMTPServerConnection(config())
    event = conn.next_event()
    assert isinstance(event, Greeting)
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(replies.MAIL_OK)  # a 250 cannot answer the greeting
    conn.send(replies.greeting(HOST))
    with pytest.raises(LocalProtocolError):
        conn.send(replies.OK)  # nothing is waiting
    assert conn.next_event() is NEED_DATA


def test_refused_greeting_closes() -> None:
    conn = SMTPServerConnection(config())
    conn.next_event()
    conn.send(replies.Reply(554, None, "No service for you"))
    assert conn.state is State.CLOSED


def test_application_can_refuse_ehlo_helo() -> None:
    session = Session.start()
    session.conn.receive_data(b"EHLO bad.example\r\n")
    event = session.conn.next_event()
    assert isinstance(event, Ehlo)
    assert session.conn.send(replies.Reply(550, "5.7.1", "Go away")) == b"550 Go away\r\n"
    assert session.state is State.GREETED


def test_submission_requires_tls_then_auth_before_mail() -> None:
    session = ready(Listener.SUBMISSION)
    assert session.say("MAIL FROM:<alice@example.org>").startswith(
        "530 5.7.0 Must issue a STARTTLS"
    )
    assert session.say("AUTH PLAIN").startswith("538 5.7.11 ")
    assert session.say("STARTTLS") == "220 2.0.0 Ready to start TLS\r\n"
    assert session.conn.tls_active and session.state is State.GREETED
    assert "AUTH" in session.say("EHLO c.example")
    assert session.say("MAIL FROM:<alice@example.org>").startswith("530 5.7.0 Authentication")
    assert session.say("STARTTLS").startswith("503 5.5.1 TLS already active")


def test_starttls_not_offered_without_a_context() -> None:
    session = ready(tls_available=False)
    assert session.say("STARTTLS").startswith("502 5.5.1")
