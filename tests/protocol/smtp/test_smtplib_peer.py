"""Python's smtplib, a real client, against the server core over a socket pair (a tiny
blocking driver stands in for the asyncio adapter)."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import pytest

from mailkeep.protocol.smtp.server import Listener, ServerConfig, SMTPServerConnection, State
from tests.protocol.smtp.session import Session, config


def serve(sock: socket.socket, session: Session) -> None:
    with sock:
        sock.sendall(session.pump())
        while session.state is not State.CLOSED:
            data = sock.recv(65536)
            out = session.feed(data)
            if out:
                sock.sendall(out)
            if not data:
                break


class PairedSMTP(smtplib.SMTP):
    """smtplib.SMTP connected to one end of a socket pair instead of a TCP address."""

    def __init__(self, sock: socket.socket) -> None:
        self._paired = sock
        super().__init__(local_hostname="client.example")

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._paired


@contextmanager
def smtp_client(cfg: ServerConfig) -> Iterator[tuple[PairedSMTP, Session]]:
    server_end, client_end = socket.socketpair()
    client_end.settimeout(10)
    session = Session(SMTPServerConnection(cfg))
    thread = threading.Thread(target=serve, args=(server_end, session), daemon=True)
    thread.start()
    client = PairedSMTP(client_end)
    client.connect("paired", 25)
    try:
        yield client, session
    finally:
        client.close()
        thread.join(timeout=10)


def test_sendmail_with_dots_and_several_recipients() -> None:
    with smtp_client(config()) as (client, session):
        client.ehlo()
        assert client.has_extn("pipelining") and client.has_extn("chunking")
        assert client.esmtp_features["size"] == "52428800"
        message = b"Subject: dots\r\n\r\n.leading\r\n..two\r\n.\r\nend\r\n"
        refused = client.sendmail("a@b.example", ["x@y.example", "z@y.example"], message)
        assert refused == {}
        assert client.quit()[0] == 221
    assert session.messages == [message]


def test_send_message_smtputf8() -> None:
    msg = EmailMessage()
    msg["From"] = "jörg@bücher.example"
    msg["To"] = "zoë@example.org"
    msg["Subject"] = "grüße"
    msg.set_content("hallo")
    with smtp_client(config()) as (client, session):
        client.send_message(msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        client.quit()
    assert len(session.messages) == 1 and "grüße".encode() in session.messages[0]


def test_unknown_recipient_is_reported_per_recipient() -> None:
    from mailkeep.protocol.smtp.replies import RCPT_OK, Reply

    with smtp_client(config()) as (client, session):
        session.rcpt_reply = lambda e: (
            RCPT_OK if e.address.local == "ok" else Reply(550, "5.1.1", "No such user here")
        )
        refused = client.sendmail("a@b.example", ["ok@y.example", "no@y.example"], b"x\r\n")
        assert refused == {"no@y.example": (550, b"5.1.1 No such user here")}
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("a@b.example", ["no@y.example"], b"x\r\n")
        client.quit()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_login_then_submit(mechanism: str) -> None:
    with smtp_client(config(Listener.SUBMISSIONS, tls_active=True)) as (client, session):
        client.ehlo()
        client.user, client.password = "alice@example.org", "correct horse"
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235
        client.sendmail("alice@example.org", ["x@y.example"], b"Subject: hi\r\n\r\nhi\r\n")
        client.quit()
    assert session.conn.authcid == "alice@example.org"
    assert session.messages == [b"Subject: hi\r\n\r\nhi\r\n"]


def test_wrong_password_and_mail_without_auth() -> None:
    with smtp_client(config(Listener.SUBMISSIONS, tls_active=True)) as (client, _session):
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alice@example.org", "wrong")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("alice@example.org", ["x@y.example"], b"x\r\n")
        assert refused.value.smtp_code == 530
        client.quit()


def test_oversized_message_is_refused_at_mail_by_size() -> None:
    with smtp_client(config(max_message_size=1024)) as (client, _session):
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("a@b.example", ["x@y.example"], b"x" * 2000)
        assert refused.value.smtp_code == 552
        client.quit()
