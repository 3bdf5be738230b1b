"""A real ``mailkeep serve`` for the IMAP tests, and clients logged in to it."""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Callable, Iterator

import pytest

from tests.mailserver import PASSWORD, MailServer, make_server

ALICE = "alice@example.test"
BOB = "bob@example.test"


def message(i: int, body_lines: int = 3, subject: str | None = None) -> bytes:
    body = b"".join(b"line %d of message %d\r\n" % (n, i) for n in range(body_lines))
    subject_bytes = (subject or f"message {i}").encode()
    return (
        b"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\n"
        b"Subject: " + subject_bytes + b"\r\nMessage-ID: <%d@example.org>\r\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\n" % i
    ) + body


MULTIPART = (
    b"From: dave@example.org\r\nTo: alice@example.test\r\nSubject: parts\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=xyz\r\n\r\n"
    b"preamble\r\n--xyz\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    b"hello part one\r\n--xyz\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--xyz--\r\n"
)
INITIAL = [message(i) for i in range(1, 6)] + [MULTIPART]


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("imap"))
    srv.add_user(ALICE)
    srv.add_user(BOB)
    srv.deliver_offline(ALICE, INITIAL)
    srv.start()
    yield srv
    srv.stop()


def tls_context(server: MailServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def imaps(server: MailServer, user: str | None = ALICE) -> imaplib.IMAP4_SSL:
    """An IMAPS client, logged in as ``user`` unless None."""
    client = imaplib.IMAP4_SSL(
        "localhost", server.ports["imaps"], ssl_context=tls_context(server), timeout=20
    )
    if user is not None:
        client.login(user, PASSWORD)
    return client


@pytest.fixture
def connect(server: MailServer) -> Iterator[Callable[..., imaplib.IMAP4_SSL]]:
    """Open logged-in clients; each is logged out at the end of the test."""
    opened: list[imaplib.IMAP4_SSL] = []

    def open_client(user: str | None = ALICE) -> imaplib.IMAP4_SSL:
        client = imaps(server, user)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
