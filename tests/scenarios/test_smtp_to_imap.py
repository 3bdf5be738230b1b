"""Inbound end to end: a message sent to the MX reaches an IMAP client waiting in IDLE
(store change feed), and IMAP returns the bytes the MX accepted."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
from collections.abc import Iterator

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server
from tests.net.test_smtp_server import add_users, addr, strip_trace


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("smtp-imap"), "[smtp]\ngreet_pause_seconds = 0\n")
    add_users(srv, ["reader", "writer"], {})
    srv.start()
    yield srv
    srv.stop()


def imap(server: MailServer, user: str) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    client = imaplib.IMAP4_SSL("localhost", server.ports["imaps"], ssl_context=context, timeout=10)
    client.login(addr(user), PASSWORD)
    return client


def test_mx_delivery_wakes_idle_and_imap_returns_the_same_bytes(server: MailServer) -> None:
    raw = (
        b"From: far@example.org\r\nTo: reader@example.test\r\nSubject: to imap\r\n"
        b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <imap.1@example.org>\r\n\r\n"
        b"Hello over IMAP.\r\n.leading dot\r\n"
    )
    client = imap(server, "reader")
    try:
        client.select("INBOX")
        tag = client._new_tag()  # imaplib has no IDLE: speak it directly (RFC 2177)
        client.send(tag + b" IDLE\r\n")
        assert client.readline().startswith(b"+")
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as mx:
            assert mx.sendmail("far@example.org", [addr("reader")], raw) == {}
        assert client.readline().strip() == b"* 1 EXISTS"
        client.send(b"DONE\r\n")
        while not (line := client.readline()).startswith(tag):
            pass
        assert b" OK" in line
        typ, data = client.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK"
        first = data[0]
        assert isinstance(first, tuple)
        assert strip_trace(first[1]) == raw
    finally:
        client.logout()


def test_submitted_mail_is_readable_over_imap_when_the_250_arrives(
    server: MailServer,
) -> None:
    raw = (
        f"From: {addr('writer')}\r\nTo: {addr('reader')}\r\nSubject: local copy\r\n"
        "Date: Wed, 25 Nov 2026 12:00:00 +0000\r\nMessage-ID: <imap.2@example.test>\r\n\r\n"
        "Readable when the 250 arrives.\r\n"
    ).encode()
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with smtplib.SMTP_SSL("localhost", server.ports["submissions"], context=context) as sub:
        sub.login(addr("writer"), PASSWORD)
        assert sub.sendmail(addr("writer"), [addr("reader")], raw) == {}
    client = imap(server, "reader")  # no waiting: the 250 means durable in the store
    try:
        client.select("INBOX", readonly=True)
        typ, data = client.search(None, "HEADER", "Message-ID", "imap.2@example.test")
        assert typ == "OK" and data[0]
        typ, fetched = client.fetch(data[0].split()[-1], "(BODY.PEEK[])")
        first = fetched[0]
        assert isinstance(first, tuple)
        assert b"with ESMTPSA id" in first[1]
        assert strip_trace(first[1]) == raw
    finally:
        client.logout()
